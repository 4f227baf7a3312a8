/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for daemon/registry.c: entries by (kind, ns, name), changes
 * made in one go (the later of two equal keys wins), batch references,
 * loading from a store (unknown kinds are skipped, not taken for
 * ServiceEntries) and compaction.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "daemon/registry.h"
#include "model/finding.h"
#include "store/store.h"

static char tmp[64];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/pc-registry-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	pc_log_set_level(PC_LOG_ERR);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *se_text(const char *ns, const char *name, unsigned port)
{
	static char bufs[8][1024];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]),
		 "apiVersion: networking.istio.io/v1\n"
		 "kind: ServiceEntry\n"
		 "metadata: {name: \"%s\", namespace: \"%s\"}\n"
		 "spec:\n"
		 "  hosts: [%s.example.com]\n"
		 "  addresses: [203.0.113.1/32]\n"
		 "  ports: [{name: tcp, number: %u, protocol: TCP}]\n"
		 "  location: MESH_EXTERNAL\n"
		 "  resolution: NONE\n",
		 name, ns, name, port);
	return b;
}

/* A batch of <reg> holding the decoded <text>. */
static struct pc_batch *decode(struct pc_registry *reg, const char *text)
{
	struct pc_batch *b = pc_batch_new(reg);
	struct pc_findings f;

	ck_assert_ptr_nonnull(b);
	pc_findings_init(&f);
	ck_assert_int_eq(pc_manifest_add_buf(&b->m, "t.yaml", text, strlen(text), &f), 0);
	ck_assert_uint_eq(f.total_err, 0);
	pc_findings_release(&f);
	return b;
}

static unsigned port_of(const struct pc_registry_entry *e)
{
	const struct pc_node *n = pc_node_get(e->res->root, "spec");

	n = pc_node_get(n, "ports");
	ck_assert_ptr_nonnull(n);
	n = pc_node_get(n->items[0], "number");
	return (unsigned)strtoul(n->str, NULL, 10);
}

START_TEST(set_sorts_and_later_wins)
{
	struct pc_registry reg;
	struct pc_buf text = PC_BUF_INIT;
	struct pc_batch *b1, *b2;
	size_t i;

	pc_registry_init(&reg);
	pc_buf_printf(&text, "%s---\n%s---\n%s", se_text("shop", "b", 1), se_text("default", "z", 2),
		      se_text("shop", "a", 3));
	b1 = decode(&reg, text.p);
	for (i = 0; i < b1->m.nres; i++)
		ck_assert_int_eq(pc_registry_set(&reg, 0, &b1->m.res[i], b1, "api"), 0);
	pc_registry_finish(&reg, 0);
	ck_assert_uint_eq(reg.n, 3);
	ck_assert_str_eq(reg.v[0].ns, "default"); /* (kind, ns, name) order */
	ck_assert_str_eq(reg.v[1].name, "a");
	ck_assert_str_eq(reg.v[2].name, "b");
	ck_assert_uint_eq(b1->live, 4); /* three entries and the creator */
	pc_batch_put(b1);
	ck_assert_uint_eq(reg.nbatches, 1);

	/* a change naming shop/a twice and a new key: the later wins, found by bisection */
	pc_buf_clear(&text);
	pc_buf_printf(&text, "%s---\n%s---\n%s", se_text("shop", "a", 10), se_text("shop", "c", 11),
		      se_text("shop", "a", 12));
	b2 = decode(&reg, text.p);
	for (i = 0; i < b2->m.nres; i++)
		ck_assert_int_eq(pc_registry_set(&reg, reg.n, &b2->m.res[i], b2, "config"), 0);
	ck_assert_uint_eq(reg.n, 4); /* shop/a replaced in place, shop/c appended */
	pc_registry_finish(&reg, 3);
	pc_batch_put(b2);
	ck_assert_uint_eq(reg.n, 4);
	i = pc_registry_find(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "shop", "a");
	ck_assert_uint_eq(i, 1);
	ck_assert_uint_eq(port_of(&reg.v[i]), 12);
	ck_assert_str_eq(reg.v[i].source, "config");
	ck_assert_uint_eq(pc_registry_find(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "shop", "c"), 3);
	ck_assert_uint_eq(pc_registry_find(&reg, reg.n, PC_KIND_SIDECAR, "shop", "c"), SIZE_MAX);
	ck_assert_uint_eq(reg.nbatches, 2);

	/* removing every entry of the first batch frees it, at the finish (keys stay valid) */
	pc_registry_remove(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "default", "z");
	pc_registry_remove(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "shop", "b");
	pc_registry_remove(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "shop", "absent");
	pc_registry_finish(&reg, reg.n);
	ck_assert_uint_eq(reg.n, 2);
	ck_assert_uint_eq(reg.nbatches, 1);
	pc_registry_release(&reg);
	ck_assert_uint_eq(reg.nbatches, 0);
	pc_buf_release(&text);
}
END_TEST

/* The same key appended twice in one change (both new): the later wins. */
START_TEST(same_new_key_twice)
{
	struct pc_registry reg;
	struct pc_buf text = PC_BUF_INIT;
	struct pc_batch *b;
	size_t i;

	pc_registry_init(&reg);
	pc_buf_printf(&text, "%s---\n%s", se_text("default", "x", 1), se_text("default", "x", 2));
	b = decode(&reg, text.p);
	for (i = 0; i < b->m.nres; i++)
		ck_assert_int_eq(pc_registry_set(&reg, 0, &b->m.res[i], b, "api"), 0);
	pc_registry_finish(&reg, 0);
	ck_assert_uint_eq(reg.n, 1);
	ck_assert_uint_eq(port_of(&reg.v[0]), 2);
	ck_assert_uint_eq(b->live, 2);
	pc_batch_put(b);
	pc_registry_release(&reg);
	pc_buf_release(&text);
}
END_TEST

static void store_put(struct pc_store *s, const char *kind, const char *ns, const char *name,
		      const char *object_json, const char *source)
{
	struct pc_store_put p = { 0 };
	struct pc_err err;

	p.kind = kind;
	p.ns = ns;
	p.name = name;
	p.spec_json = object_json;
	p.object_json = object_json;
	p.source = source;
	ck_assert_msg(pc_store_apply(s, &p, 1, NULL, NULL, NULL, &err) == 0, "%s", err.msg);
}

static const char *se_json(const char *ns, const char *name, unsigned port)
{
	static char bufs[4][1024];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]),
		 "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{\"hosts\":"
		 "[\"%s.example.com\"],\"addresses\":[\"203.0.113.1/32\"],\"ports\":[{\"name\":"
		 "\"tcp\",\"number\":%u,\"protocol\":\"TCP\"}],\"location\":\"MESH_EXTERNAL\","
		 "\"resolution\":\"NONE\"}}",
		 name, ns, name, port);
	return b;
}

/*
 * Loading takes creationTimestamp and source from the store, and skips an
 * object of a kind this build does not know (kept in the store, not
 * enforced) instead of taking it for a ServiceEntry.
 */
START_TEST(load_from_store)
{
	struct pc_registry reg;
	struct pc_store *s;
	struct pc_err err;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/state", tmp);
	ck_assert_int_eq(pc_store_open(dir, &s, &err), 0);
	store_put(s, "ServiceEntry", "default", "a", se_json("default", "a", 1), "api");
	store_put(s, "ServiceEntry", "shop", "b", se_json("shop", "b", 2), "config");
	store_put(s, "Gateway", "default", "a",
		  "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"Gateway\","
		  "\"metadata\":{\"name\":\"a\",\"namespace\":\"default\"},\"spec\":{}}",
		  "api");
	pc_registry_init(&reg);
	ck_assert_msg(pc_registry_load(&reg, s, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(reg.n, 2);
	ck_assert_int_eq(reg.v[0].kind, PC_KIND_SERVICE_ENTRY);
	ck_assert_str_eq(reg.v[0].name, "a");
	ck_assert_uint_eq(port_of(&reg.v[0]), 1);
	ck_assert_str_eq(reg.v[0].source, PC_STORE_SOURCE_API);
	ck_assert_str_eq(reg.v[1].source, PC_STORE_SOURCE_CONFIG);
	ck_assert_ptr_nonnull(reg.v[0].res->meta.creation_timestamp);
	ck_assert_str_lt("2020", reg.v[0].res->meta.creation_timestamp);
	ck_assert_uint_eq(reg.nbatches, 1);
	pc_registry_release(&reg);
	pc_store_close(s);
}
END_TEST

/* Many one-object batches: compaction decodes the store into one, keeping every entry. */
START_TEST(compaction)
{
	enum { N = 100 };
	struct pc_registry reg;
	struct pc_store *s;
	struct pc_err err;
	char dir[128], name[32];
	unsigned i;

	snprintf(dir, sizeof(dir), "%s/state", tmp);
	ck_assert_int_eq(pc_store_open(dir, &s, &err), 0);
	pc_registry_init(&reg);
	for (i = 0; i < N; i++) {
		struct pc_batch *b;

		snprintf(name, sizeof(name), "se-%03u", i);
		store_put(s, "ServiceEntry", "default", name, se_json("default", name, 1000 + i),
			  "api");
		b = decode(&reg, se_text("default", name, 1000 + i));
		ck_assert_int_eq(pc_registry_set(&reg, reg.n, &b->m.res[0], b, "api"), 0);
		pc_registry_finish(&reg, reg.n - 1);
		pc_batch_put(b);
		if (reg.nbatches <= 64 + reg.n / 64)
			ck_assert(!pc_registry_maybe_compact(&reg, s));
	}
	ck_assert_uint_eq(reg.nbatches, N);
	ck_assert(pc_registry_maybe_compact(&reg, s));
	ck_assert_uint_eq(reg.nbatches, 1);
	ck_assert_uint_eq(reg.n, N);
	for (i = 0; i < N; i++) {
		size_t k;

		snprintf(name, sizeof(name), "se-%03u", i);
		k = pc_registry_find(&reg, reg.n, PC_KIND_SERVICE_ENTRY, "default", name);
		ck_assert_uint_eq(k, i);
		ck_assert_uint_eq(port_of(&reg.v[k]), 1000 + i);
	}
	ck_assert(!pc_registry_maybe_compact(&reg, s)); /* one batch: nothing to do */
	pc_registry_release(&reg);
	pc_store_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon.registry");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, set_sorts_and_later_wins);
	tcase_add_test(tc, same_new_key_twice);
	tcase_add_test(tc, load_from_store);
	tcase_add_test(tc, compaction);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
