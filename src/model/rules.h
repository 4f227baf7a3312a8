/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/rules.h - Istio's cross-cutting validation rules (reference §0).
 *
 * Names, hosts, addresses, ports, protocols, durations, labels and
 * exportTo, with Istio's exact accept/reject decisions and message texts
 * (pkg/config/validation, pkg/config/labels, pkg/config/host). The
 * pc_check_* functions return 0 when the value is valid, or -EINVAL after
 * writing Istio's message into <msg> (<size> bytes; PC_RULE_MSG is
 * enough). The pc_vcheck_* ones report through a validation context.
 */
#ifndef PC_MODEL_RULES_H
#define PC_MODEL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_strmap;
struct pc_strv;
struct pc_vctx;

#define PC_RULE_MSG 512

/*
 * Go's %q (strconv.Quote) of the NUL-terminated <s>, for message texts:
 * '"' and '\\' and \a \b \f \n \r \t \v get their backslash escapes,
 * other control bytes, DEL and bytes that are not UTF-8 become \xNN, C1
 * controls and bidi and invisible format characters \uXXXX (core/escape.h),
 * and all other characters are copied unchanged.
 * The result in <buf> (<size> bytes) is always quoted and NUL-terminated:
 * when <s> does not fit it is cut at a character boundary, never inside an
 * escape or a UTF-8 sequence, and the closing quote still follows.
 * <size> must be at least 3, room for the quotes; a smaller non-zero
 * <size> gets an empty C string. Returns <buf>.
 */
const char *pc_go_quote(char *buf, size_t size, const char *s);

/* Istio's IsDNS1123Label: [a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?, <= 63. Upper case allowed. */
bool pc_is_dns1123_label(const char *s);

/* Istio's IsWildcardDNS1123Label: "*", or a label optionally prefixed by "*" or "*-". */
bool pc_is_wildcard_dns1123_label(const char *s);

/* Kubernetes' DNS-1123 subdomain (lower case, <= 253): object names. */
bool pc_is_k8s_dns1123_subdomain(const char *s);

/* Kubernetes' DNS-1123 label (lower case, <= 63): namespaces. */
bool pc_is_k8s_dns1123_label(const char *s);

/* What pc_is_k8s_dns1123_label() takes, for the flags that name a namespace. */
#define PC_NAMESPACE_RULE "a namespace name (lower case letters, digits and '-', at most 63)"

/*
 * A workload's labels as `--labels app=a,version=v1` gives them: into
 * <*out> (malloc'd, NUL-separated "k=v" strings, <*len> bytes with their
 * NULs; NULL and 0 for ""), each key and value checked as
 * labels.Instance.Validate checks them and no key twice (a workloadSelector
 * must never match one of two values). Returns 0, or -EINVAL with <msg>.
 */
int pc_labels_arg_parse(const char *arg, char **out, size_t *len, char *msg, size_t size);

/* ValidateFQDN: "empty domain name not allowed", "... too long (max 255)", label rules. */
int pc_check_fqdn(const char *s, char *msg, size_t size);

/* ValidateWildcardDomain: a wildcard first label, FQDN rules for the rest. */
int pc_check_wildcard_domain(const char *s, char *msg, size_t size);

/* ValidatePartialWildCard: "*" or "*.<...>" only, when the host has a '*'. */
int pc_check_partial_wildcard(const char *s, char *msg, size_t size);

/* Go netip.ParseAddr (zones allowed for IPv6). */
bool pc_is_ip(const char *s);

/* ValidateIPAddress: "<s> is not a valid IP". */
int pc_check_ip(const char *s, char *msg, size_t size);

/* ValidateIPSubnet: one '/' -> netip.ParsePrefix ("... is not a valid CIDR block"), else an IP. */
int pc_check_ip_subnet(const char *s, char *msg, size_t size);

/* ValidatePort: "port number N must be in the range 1..65535". */
int pc_check_port(long long port, char *msg, size_t size);

/* ValidatePortName: "invalid port name: <s>". */
int pc_check_port_name(const char *s, char *msg, size_t size);

enum pc_protocol {
	PC_PROTO_UNSUPPORTED,
	PC_PROTO_TCP,
	PC_PROTO_UDP,
	PC_PROTO_GRPC,
	PC_PROTO_GRPC_WEB,
	PC_PROTO_HTTP,
	PC_PROTO_HTTP_PROXY,
	PC_PROTO_HTTP2,
	PC_PROTO_HTTPS,
	PC_PROTO_TLS,
	PC_PROTO_MONGO,
	PC_PROTO_REDIS,
	PC_PROTO_MYSQL,
};

/* protocol.Parse: case-insensitive; "" and unknown names are PC_PROTO_UNSUPPORTED. */
enum pc_protocol pc_protocol_parse(const char *s);
bool pc_protocol_is_http(enum pc_protocol p); /* HTTP HTTP2 HTTP_PROXY GRPC GRPC-Web */
bool pc_protocol_is_tcp(enum pc_protocol p);  /* TCP HTTPS TLS Mongo Redis MySQL */
bool pc_protocol_is_tls(enum pc_protocol p);  /* HTTPS TLS */

/* ValidateProtocol: "" allowed (sniffing), else "unsupported protocol: <s>". */
int pc_check_protocol(const char *s, char *msg, size_t size);

/*
 * ValidateDuration: >= 1ms ("duration must be greater than 1ms") and whole
 * milliseconds ("only durations to ms precision are supported").
 */
int pc_check_duration(int64_t ns, char *msg, size_t size);

/* ValidatePercent-style 0..100: "percentage N is not in range 0..100". */
int pc_check_percent(long long v, char *msg, size_t size);

/*
 * labels.Instance.Validate on <labels>, reporting each bad key ("invalid
 * tag key: \"k\"") and value ("invalid tag value: \"v\"") at
 * <field>[<key>].
 */
void pc_vcheck_labels(struct pc_vctx *v, const char *field, const struct pc_strmap *labels);

/*
 * validateExportTo for an object in namespace <ns>. <is_service_entry>
 * allows "~"; <dr_with_selector> restricts a DestinationRule with a
 * workload selector to its own namespace. Reports at <field>.
 */
void pc_vcheck_export_to(struct pc_vctx *v, const char *field, const struct pc_strv *export_to,
			 const char *ns, bool is_service_entry, bool dr_with_selector);

/* host.Name.Matches (reference §0.2). */
bool pc_host_matches(const char *a, const char *b);

/* host.Name.SubsetOf: is <a> a subset of <b>? */
bool pc_host_subset_of(const char *a, const char *b);

#endif /* PC_MODEL_RULES_H */
