/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model/yaml.c - libyaml events to a positioned node tree.
 *
 * We drive libyaml's event parser ourselves rather than its document
 * loader so that limits apply while the input is read, not after: depth is
 * checked at every collection start, anchors are counted, and every node
 * (an alias counts as the whole subtree it stands for) adds to the
 * document's weight, which is capped. An anchor only becomes visible once
 * its node is complete, so an alias can never point at one of its own
 * ancestors and the tree stays acyclic.
 *
 * Children are gathered in malloc'd vectors on the builder's stack and
 * copied to the arena at the end of their collection, so the arena holds
 * exactly what the tree needs. Mapping ends apply merge keys (<<) and
 * reject duplicate keys, as Kubernetes' strict decoding does.
 */
#include "model/node.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"

#define TAG_STR   "tag:yaml.org,2002:str"
#define TAG_NULL  "tag:yaml.org,2002:null"
#define TAG_BOOL  "tag:yaml.org,2002:bool"
#define TAG_INT   "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_MERGE "tag:yaml.org,2002:merge"

struct vec {
	void **v;
	size_t n;
	size_t cap;
};

struct frame {
	struct pc_node *node;
	struct vec kids; /* seq: items; map: key, value, key, value, ... */
	char *anchor;    /* malloc'd, registered when the node completes */
};

struct anchor {
	char *name; /* malloc'd */
	const struct pc_node *node;
};

struct builder {
	struct pc_arena *arena;
	const struct pc_yaml_limits *lim;
	struct pc_err *err;
	struct frame *stack;
	size_t depth;
	struct anchor *anchors;
	size_t nanchors;
	size_t weight; /* of the current document */
	const struct pc_node *root;
	struct pc_yaml_doc *docs;
	size_t ndocs;
	size_t capdocs;
};

void pc_yaml_limits_default(struct pc_yaml_limits *lim)
{
	lim->max_bytes = PC_YAML_MAX_BYTES;
	lim->max_depth = PC_YAML_MAX_DEPTH;
	lim->max_anchors = PC_YAML_MAX_ANCHORS;
	lim->max_weight = PC_YAML_MAX_WEIGHT;
}

static int vec_push(struct vec *v, void *p)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		void **nv = pc_realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = p;
	return 0;
}

static int oom(struct builder *b)
{
	return pc_err_set(b->err, -ENOMEM, "out of memory while reading YAML");
}

static int add_weight(struct builder *b, size_t w, const yaml_mark_t *mark)
{
	if (w > b->lim->max_weight - b->weight) {
		return pc_err_at(b->err, -EINVAL, (unsigned)mark->line + 1,
				 (unsigned)mark->column + 1,
				 "document expands to more than %zu nodes once aliases are counted "
				 "(a limit against alias bombs such as \"billion laughs\")",
				 b->lim->max_weight);
	}
	b->weight += w;
	return 0;
}

static struct pc_node *node_new(struct builder *b, enum pc_node_type type, const yaml_mark_t *mark,
				const yaml_char_t *tag)
{
	struct pc_node *n = pc_arena_calloc(b->arena, 1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	n->weight = 1;
	if (tag) {
		n->tag = pc_arena_strdup(b->arena, (const char *)tag);
		if (!n->tag)
			return NULL;
	}
	return n;
}

/* Attach a finished node to its parent frame, or make it the root. */
static int attach(struct builder *b, const struct pc_node *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->node->type == PC_NODE_MAP && f->kids.n % 2 == 0 && n->type != PC_NODE_SCALAR) {
		return pc_err_at(b->err, -EINVAL, n->line, n->col,
				 "mapping keys must be strings, not a %s",
				 n->type == PC_NODE_MAP ? "mapping" : "sequence");
	}
	f->node->weight += n->weight;
	if (vec_push(&f->kids, (void *)n) < 0)
		return oom(b);
	return 0;
}

static int register_anchor(struct builder *b, char *name, const struct pc_node *n)
{
	struct anchor *a;

	if (b->nanchors >= b->lim->max_anchors) {
		free(name);
		return pc_err_at(b->err, -EINVAL, n->line, n->col,
				 "more than %zu anchors in one document", b->lim->max_anchors);
	}
	a = pc_realloc(b->anchors, (b->nanchors + 1) * sizeof(*a));
	if (!a) {
		free(name);
		return oom(b);
	}
	b->anchors = a;
	a[b->nanchors].name = name;
	a[b->nanchors].node = n;
	b->nanchors++;
	return 0;
}

static void drop_anchors(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->nanchors; i++)
		free(b->anchors[i].name);
	b->nanchors = 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct pc_node *n;
	int ret;

	ret = add_weight(b, 1, &ev->start_mark);
	if (ret < 0)
		return ret;
	n = node_new(b, PC_NODE_SCALAR, &ev->start_mark, ev->data.scalar.tag);
	if (!n)
		return oom(b);
	n->len = ev->data.scalar.length;
	n->str = pc_arena_strndup(b->arena, (const char *)ev->data.scalar.value, n->len);
	if (!n->str)
		return oom(b);
	switch (ev->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE:
		n->style = PC_STYLE_PLAIN;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		n->style = PC_STYLE_BLOCK;
		break;
	default:
		n->style = PC_STYLE_QUOTED;
	}
	if (ev->data.scalar.anchor) {
		char *name = strdup((const char *)ev->data.scalar.anchor);

		if (!name)
			return oom(b);
		ret = register_anchor(b, name, n);
		if (ret < 0)
			return ret;
	}
	return attach(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t i;
	int ret;

	for (i = b->nanchors; i-- > 0;) {
		if (strcmp(b->anchors[i].name, name) == 0) {
			ret = add_weight(b, b->anchors[i].node->weight, &ev->start_mark);
			if (ret < 0)
				return ret;
			return attach(b, b->anchors[i].node);
		}
	}
	return pc_err_at(b->err, -EINVAL, (unsigned)ev->start_mark.line + 1,
			 (unsigned)ev->start_mark.column + 1, "unknown anchor \"%s\" referenced",
			 name);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum pc_node_type type)
{
	const yaml_char_t *tag, *anchor;
	struct frame *f, *stack;
	struct pc_node *n;
	int ret;

	if (b->depth >= b->lim->max_depth) {
		return pc_err_at(b->err, -EINVAL, (unsigned)ev->start_mark.line + 1,
				 (unsigned)ev->start_mark.column + 1,
				 "nesting deeper than %u levels", b->lim->max_depth);
	}
	ret = add_weight(b, 1, &ev->start_mark);
	if (ret < 0)
		return ret;
	if (type == PC_NODE_SEQ) {
		tag = ev->data.sequence_start.tag;
		anchor = ev->data.sequence_start.anchor;
	} else {
		tag = ev->data.mapping_start.tag;
		anchor = ev->data.mapping_start.anchor;
	}
	n = node_new(b, type, &ev->start_mark, tag);
	if (!n)
		return oom(b);
	stack = pc_realloc(b->stack, (b->depth + 1) * sizeof(*stack));
	if (!stack)
		return oom(b);
	b->stack = stack;
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	if (anchor) {
		f->anchor = strdup((const char *)anchor);
		if (!f->anchor)
			return oom(b);
	}
	return 0;
}

static bool is_merge_key(const struct pc_node *k)
{
	if (k->tag)
		return strcmp(k->tag, TAG_MERGE) == 0;
	return k->style == PC_STYLE_PLAIN && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}

static bool same_key(const struct pc_node *a, const struct pc_node *b)
{
	return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/*
 * Keys of one mapping under construction, hashed so that duplicate checks
 * and merges stay linear on hostile input with huge mappings.
 */
struct keyset {
	const struct pc_node **slot;
	size_t cap; /* power of two */
	size_t n;
};

static size_t key_hash(const struct pc_node *k)
{
	size_t h = 1469598103934665603u;
	size_t i;

	for (i = 0; i < k->len; i++)
		h = (h ^ (unsigned char)k->str[i]) * 1099511628211u;
	return h;
}

static const struct pc_node **keyset_slot(const struct keyset *ks, const struct pc_node *k)
{
	size_t i = key_hash(k) & (ks->cap - 1);

	while (ks->slot[i] && !same_key(ks->slot[i], k))
		i = (i + 1) & (ks->cap - 1);
	return &ks->slot[i];
}

/* Returns the key already present, NULL after adding <k>, or <k> itself on OOM. */
static const struct pc_node *keyset_add(struct keyset *ks, const struct pc_node *k)
{
	const struct pc_node **slot;

	if (2 * (ks->n + 1) > ks->cap) {
		struct keyset bigger = { NULL, ks->cap ? ks->cap * 2 : 16, 0 };
		size_t i;

		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		bigger.slot = pc_calloc(bigger.cap, sizeof(*bigger.slot));
		if (!bigger.slot)
			return k;
		for (i = 0; i < ks->cap; i++) {
			if (ks->slot[i])
				*keyset_slot(&bigger, ks->slot[i]) = ks->slot[i];
		}
		bigger.n = ks->n;
		free(ks->slot);
		*ks = bigger;
	}
	slot = keyset_slot(ks, k);
	if (!*slot) {
		*slot = k;
		ks->n++;
		return NULL;
	}
	return *slot;
}

/* Append the pairs of merge source <src> whose keys <ks> lacks. */
static int merge_from(struct builder *b, struct vec *out, struct keyset *ks,
		      const struct pc_node *src, const struct pc_node *at)
{
	const struct pc_node *k;
	size_t i;

	if (src->type != PC_NODE_MAP) {
		return pc_err_at(b->err, -EINVAL, at->line, at->col,
				 "merge key << needs a mapping or a list of mappings");
	}
	for (i = 0; i < src->npairs; i++) {
		k = keyset_add(ks, src->pairs[i].key);
		if (k == src->pairs[i].key)
			return oom(b);
		if (k)
			continue; /* explicit or earlier merged keys win */
		if (vec_push(out, (void *)src->pairs[i].key) < 0 ||
		    vec_push(out, (void *)src->pairs[i].value) < 0)
			return oom(b);
	}
	return 0;
}

static int map_merges(struct builder *b, struct vec *kids, struct vec *out, struct keyset *ks)
{
	size_t i, j;
	int ret;

	for (i = 0; i < kids->n; i += 2) {
		const struct pc_node *k = kids->v[i], *v = kids->v[i + 1];

		if (!is_merge_key(k))
			continue;
		if (v->type == PC_NODE_SEQ) {
			for (j = 0; j < v->nitems; j++) {
				ret = merge_from(b, out, ks, v->items[j], k);
				if (ret < 0)
					return ret;
			}
		} else {
			ret = merge_from(b, out, ks, v, k);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Explicit keys first (duplicates rejected), then merged ones. */
static int map_finish(struct builder *b, struct pc_node *n, struct vec *kids)
{
	struct keyset ks = { NULL, 0, 0 };
	struct vec out = { 0 };
	const struct pc_node *dup;
	size_t i;
	int ret = 0;
	bool merges = false;

	for (i = 0; i < kids->n; i += 2) {
		const struct pc_node *k = kids->v[i];

		if (is_merge_key(k)) {
			merges = true;
			continue;
		}
		dup = keyset_add(&ks, k);
		if (dup == k) {
			ret = oom(b);
			goto out;
		}
		if (dup) {
			ret = pc_err_at(b->err, -EINVAL, k->line, k->col,
					"duplicate key \"%.*s\" (first defined at line %u, column %u)",
					(int)pc_utf8_prefix(k->str, k->len, 200), k->str, dup->line,
					dup->col);
			goto out;
		}
		if (vec_push(&out, kids->v[i]) < 0 || vec_push(&out, kids->v[i + 1]) < 0) {
			ret = oom(b);
			goto out;
		}
	}
	if (merges) {
		ret = map_merges(b, kids, &out, &ks);
		if (ret < 0)
			goto out;
	}
	n->npairs = out.n / 2;
	n->pairs = pc_arena_calloc(b->arena, n->npairs ? n->npairs : 1, sizeof(*n->pairs));
	if (!n->pairs) {
		ret = oom(b);
		goto out;
	}
	for (i = 0; i < n->npairs; i++) {
		n->pairs[i].key = out.v[2 * i];
		n->pairs[i].value = out.v[2 * i + 1];
	}
out:
	free(out.v);
	free(ks.slot);
	return ret;
}

static int on_end(struct builder *b)
{
	struct frame *f;
	struct pc_node *n;
	char *anchor;
	int ret = 0;

	if (b->depth == 0) /* libyaml pairs every end with a start; never trust it blindly */
		return pc_err_set(b->err, -EINVAL, "invalid YAML: unbalanced collection end");
	f = &b->stack[b->depth - 1];
	n = f->node;
	anchor = f->anchor;

	f->anchor = NULL;
	if (n->type == PC_NODE_SEQ) {
		n->nitems = f->kids.n;
		/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
		n->items = pc_arena_calloc(b->arena, n->nitems ? n->nitems : 1, sizeof(*n->items));
		if (!n->items)
			ret = oom(b);
		else if (n->nitems)
			/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
			memcpy(n->items, f->kids.v, n->nitems * sizeof(*n->items));
	} else {
		ret = map_finish(b, n, &f->kids);
	}
	free(f->kids.v);
	b->depth--;
	if (ret < 0) {
		free(anchor);
		return ret;
	}
	if (anchor) {
		ret = register_anchor(b, anchor, n);
		if (ret < 0)
			return ret;
	}
	return attach(b, n);
}

static int on_doc_end(struct builder *b, unsigned line)
{
	struct pc_yaml_doc *docs;
	const struct pc_node *root = b->root;

	if (b->ndocs == b->capdocs) {
		size_t cap = b->capdocs ? b->capdocs * 2 : 16;

		docs = pc_realloc(b->docs, cap * sizeof(*docs));
		if (!docs)
			return oom(b);
		b->docs = docs;
		b->capdocs = cap;
	}
	if (root && pc_node_is_null(root))
		root = NULL; /* "---" followed by nothing, or only comments */
	b->docs[b->ndocs].root = root;
	b->docs[b->ndocs].line = line;
	b->ndocs++;
	b->root = NULL;
	b->weight = 0;
	drop_anchors(b);
	return 0;
}

static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR)
		return oom(b);
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a line. */
		if (p->problem_value != -1) {
			/* libyaml gives the octet for UTF-8 errors, the code point otherwise */
			if (strstr(problem, "octet") || strstr(problem, "length"))
				return pc_err_set(b->err, -EINVAL,
						  "not valid YAML text: %s (byte 0x%02x at offset %zu)",
						  problem, (unsigned)p->problem_value & 0xffu,
						  p->problem_offset);
			return pc_err_set(b->err, -EINVAL,
					  "not valid YAML text: %s (character U+%04X at byte offset "
					  "%zu)",
					  problem, (unsigned)p->problem_value, p->problem_offset);
		}
		return pc_err_set(b->err, -EINVAL, "not valid YAML text: %s (at offset %zu)",
				  problem, p->problem_offset);
	}
	if (p->context) {
		return pc_err_at(b->err, -EINVAL, (unsigned)p->problem_mark.line + 1,
				 (unsigned)p->problem_mark.column + 1,
				 "invalid YAML: %s %s (started at line %u, column %u)", problem,
				 p->context, (unsigned)p->context_mark.line + 1,
				 (unsigned)p->context_mark.column + 1);
	}
	return pc_err_at(b->err, -EINVAL, (unsigned)p->problem_mark.line + 1,
			 (unsigned)p->problem_mark.column + 1, "invalid YAML: %s", problem);
}

static int dispatch(struct builder *b, const yaml_event_t *ev, unsigned *doc_line)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		*doc_line = (unsigned)ev->start_mark.line + 1;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return on_doc_end(b, *doc_line);
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, PC_NODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, PC_NODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b);
	default:
		return 0;
	}
}

static void builder_release(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->depth; i++) {
		free(b->stack[i].kids.v);
		free(b->stack[i].anchor);
	}
	free(b->stack);
	drop_anchors(b);
	free(b->anchors);
	free(b->docs);
}

static int run_parser(struct builder *b, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned doc_line = 1;
	int ret = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return oom(b);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			ret = syntax_error(b, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		ret = dispatch(b, &ev, &doc_line);
		yaml_event_delete(&ev);
		if (ret < 0)
			break;
	}
	yaml_parser_delete(&parser);
	return ret;
}

int pc_yaml_parse(const char *buf, size_t len, const struct pc_yaml_limits *lim,
		  struct pc_yaml_stream **out, struct pc_err *err)
{
	struct pc_yaml_limits deflim;
	struct pc_yaml_stream *s;
	struct builder b = { 0 };
	int ret;

	if (!lim) {
		pc_yaml_limits_default(&deflim);
		lim = &deflim;
	}
	if (len > lim->max_bytes) {
		return pc_err_set(err, -EFBIG, "input is %zu bytes, more than the limit of %zu",
				  len, lim->max_bytes);
	}
	s = pc_calloc(1, sizeof(*s));
	if (!s)
		return pc_err_set(err, -ENOMEM, "out of memory while reading YAML");
	s->arena = pc_arena_new(len < 4096 ? 4096 : 65536);
	if (!s->arena) {
		free(s);
		return pc_err_set(err, -ENOMEM, "out of memory while reading YAML");
	}
	b.arena = s->arena;
	b.lim = lim;
	b.err = err;

	ret = run_parser(&b, buf, len);
	if (ret < 0)
		goto fail;
	s->ndocs = b.ndocs;
	if (b.ndocs) {
		s->docs = pc_arena_calloc(s->arena, b.ndocs, sizeof(*s->docs));
		if (!s->docs) {
			ret = oom(&b);
			goto fail;
		}
		memcpy(s->docs, b.docs, b.ndocs * sizeof(*s->docs));
	}
	builder_release(&b);
	*out = s;
	return 0;

fail:
	builder_release(&b);
	pc_yaml_stream_free(s);
	return ret;
}

void pc_yaml_stream_free(struct pc_yaml_stream *stream)
{
	if (!stream)
		return;
	pc_arena_free(stream->arena);
	free(stream);
}
