/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/schema.h - field tables that drive the typed decoder.
 *
 * Every Istio message we decode is a C struct whose first member is a
 * struct pc_msg, plus a table of struct pc_field saying, for each JSON
 * field name, its type and where it lives in the struct. pc_decode()
 * (model/decode.h) walks a mapping node with such a table: it fills the
 * struct, rejects unknown fields, wrong types, out-of-range integers and
 * malformed durations, and reports each problem with its field path.
 * Validators then work on typed values and ask pc_has() when presence,
 * not the value, matters (an explicit "0s" versus an absent field).
 *
 * C member types by field type:
 *   PC_FT_STRING    const char *            PC_FT_STRLIST  struct pc_strv
 *   PC_FT_BOOL      bool                    PC_FT_STRMAP   struct pc_strmap
 *   PC_FT_INT32     int32_t                 PC_FT_U32MAP   struct pc_u32map
 *   PC_FT_UINT32    uint32_t                PC_FT_MSG      struct T * (NULL: absent)
 *   PC_FT_INT64     int64_t                 PC_FT_MSGLIST  PC_LIST(struct T)
 *   PC_FT_UINT64    uint64_t                PC_FT_ANY      const struct pc_node *
 *   PC_FT_DOUBLE    double                  PC_FT_ENUM     int (index in <enums>)
 *   PC_FT_DURATION  int64_t nanoseconds
 * Absent fields keep zero values. A YAML null counts as absent.
 *
 * A field the decoder rejected (already reported) also keeps its zero
 * value, although pc_has() is true for it: a mistyped message is a zeroed
 * struct whose hdr.node is NULL, a mistyped string stays NULL. Validators
 * skip such values instead of judging them again.
 */
#ifndef PC_MODEL_SCHEMA_H
#define PC_MODEL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pc_node;

/* The first member of every decoded message. */
struct pc_msg {
	const struct pc_node *node; /* the message's mapping node */
};

struct pc_strv {
	const char **v;
	size_t n;
};

struct pc_strmap { /* in source order */
	const char **keys;
	const char **vals;
	size_t n;
};

struct pc_u32map { /* in source order */
	const char **keys;
	uint32_t *vals;
	size_t n;
};

/* A decoded list of messages: elements are structs, not pointers. */
#define PC_LIST(type) \
	struct {      \
		type *v;  \
		size_t n; \
	}

enum pc_ftype {
	PC_FT_STRING,
	PC_FT_BOOL,
	PC_FT_INT32,
	PC_FT_UINT32,
	PC_FT_INT64,
	PC_FT_UINT64,
	PC_FT_DOUBLE,
	PC_FT_ENUM,
	PC_FT_DURATION,
	PC_FT_STRLIST,
	PC_FT_STRMAP,
	PC_FT_U32MAP,
	PC_FT_MSG,
	PC_FT_MSGLIST,
	PC_FT_ANY,
};

struct pc_schema;

struct pc_field {
	const char *name; /* JSON (camelCase) name */
	enum pc_ftype type;
	size_t offset;
	const struct pc_schema *sub; /* PC_FT_MSG, PC_FT_MSGLIST */
	const char *const *enums;    /* PC_FT_ENUM: names, NULL-terminated; value = index */
};

struct pc_schema {
	const char *name; /* proto message name, e.g. "ServicePort" */
	size_t size;      /* sizeof the C struct */
	const struct pc_field *fields; /* terminated by an entry with name NULL */
	/*
	 * Oneof groups, NULL-terminated, each a comma-separated list of field
	 * names of which at most one may be set, e.g. "simple,consistentHash".
	 */
	const char *const *oneofs;
};

#define PC_FIELD(name_, type_, st_, member_) \
	{ (name_), (type_), offsetof(st_, member_), NULL, NULL }
#define PC_FIELD_MSG(name_, st_, member_, sub_) \
	{ (name_), PC_FT_MSG, offsetof(st_, member_), &(sub_), NULL }
#define PC_FIELD_LIST(name_, st_, member_, sub_) \
	{ (name_), PC_FT_MSGLIST, offsetof(st_, member_), &(sub_), NULL }
#define PC_FIELD_ENUM(name_, st_, member_, names_) \
	{ (name_), PC_FT_ENUM, offsetof(st_, member_), NULL, (names_) }
#define PC_FIELD_END \
	{ NULL, PC_FT_STRING, 0, NULL, NULL }

/*
 * True when message <m> (may be NULL) has field <name> with a non-null
 * value. Used where presence matters more than the value.
 */
bool pc_has(const void *m, const char *name);

/*
 * True when message <m> (may be NULL) was decoded from an object: false
 * for an absent message and for a value that was not an object (the
 * decoder reported it and left the message without a node).
 */
bool pc_is_decoded(const void *m);

/*
 * For an integer field <name> of <m> whose decoded value is 0: true when
 * that 0 is real, i.e. the field is absent, null, or the integer 0 in the
 * input. False when the field was given but failed to decode (the decoder
 * reported it and left 0), so that validators do not add "port 0"-style
 * errors on top of the decoder's.
 */
bool pc_zero_is_real(const void *m, const char *name);

/* The value node of field <name> of message <m>, or NULL. */
const struct pc_node *pc_field_node(const void *m, const char *name);

#endif /* PC_MODEL_SCHEMA_H */
