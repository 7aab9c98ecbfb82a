/* petdns._fastloop: the UDP answer loop in C, reading a table of rendered answers without the GIL.
 *
 * Table: an open-addressing hash table (linear probing, at most half full counting tombstones) of
 * pointers to immutable entries, one per lower-case wire name. The writer (Python, holding the GIL)
 * replaces an entry with one atomic pointer store and retires the old one; the slot array is
 * replaced the same way when it grows. Retired memory is freed once every reader that might hold it
 * has left its batch (epoch-based reclamation): a reader publishes the global epoch it saw before it
 * touches a table and publishes 0 when it is done; an object retired at epoch g is freed when no
 * reader has published a value <= g. Entries point into the Python bytes objects of the rendered
 * node (which they hold a reference to): immutable, so readers need no GIL to read them.
 *
 * Answering is exactly petdns.answer.fastpath.answer (the Python fast path); whatever it declines
 * goes back to Python. Sizes are checked before every copy: a packet is at most RECV_SIZE bytes and
 * a reply is built only when it fits SEND_SIZE.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RECV_SIZE 4096
#define SEND_SIZE 65536
#define NAME_SIZE 32
#define MAX_READERS 1024
#define MAX_BUCKETS 32
#define FOLD_AT 4096
#define MAX_UDP_MIN 512
#define OPT_LEN 11
#define POINTERS (12 + 256)

/* ---- memory reclamation ------------------------------------------------------------------------ */

static _Atomic uint64_t g_epoch = 1;
static _Atomic uint64_t g_readers[MAX_READERS]; /* 0: outside a batch */
static char g_reader_taken[MAX_READERS];        /* under the GIL */

enum { R_ENTRY, R_SLOTS, R_HEADS, R_OBJECT };
typedef struct retired {
    struct retired *next;
    uint64_t epoch;
    int kind;
    void *p;
} retired;
static retired *g_retired; /* under the GIL */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
} span;

/* A truncated rendering kept for a (type+class, size limit). */
typedef struct {
    uint8_t tail[4];
    int limit;
    const uint8_t *hdr[4]; /* 10 bytes each: the header after the ID, by variant */
    span body;
} cut;

typedef struct {
    PyObject *refs; /* the cuts as given: what `hdr` and `body` point into */
    int n;
    cut cuts[];
} cuts_t;

/* One name: small, since there is one per name (a few hundred thousand at 100k endpoints). The
 * rendering itself stays in the node tuple, which is immutable and held here, so reading its items
 * needs no GIL; put() checked its shape. */
typedef struct entry {
    uint64_t hash;
    PyObject *wire; /* the lower-case wire name (bytes): the key */
    PyObject *node; /* (zone head, type+class, header variants or None, body or None, ...) */
    cuts_t *cuts;   /* or NULL */
    int16_t head;   /* index into the heads, -1: only the full path answers this name */
    uint16_t ntypes;
    uint8_t tails[][4]; /* each type's type+class, for the scan */
} entry;

#define KEY(e) ((const uint8_t *)PyBytes_AS_STRING((e)->wire))
#define KEYLEN(e) PyBytes_GET_SIZE((e)->wire)
#define ITEM(e, i) PyTuple_GET_ITEM((e)->node, (i))
#define BYTES(o) ((const uint8_t *)PyBytes_AS_STRING(o))

typedef struct {
    span wire, pod_wire, soa_a, soa_b, soa_c;
    int fallthrough, dynamic_pods;
} head;

typedef struct {
    int synced;
    int nheads;
    PyObject *refs;
    head heads[];
} heads_t;

typedef struct {
    size_t mask;
    _Atomic(entry *) slot[];
} slots_t;

static entry g_tomb;
#define TOMB (&g_tomb)

static void free_entry(entry *e) {
    Py_XDECREF(e->wire);
    Py_XDECREF(e->node);
    if (e->cuts) {
        Py_XDECREF(e->cuts->refs);
        PyMem_RawFree(e->cuts);
    }
    PyMem_RawFree(e);
}

static void free_heads(heads_t *h) {
    Py_XDECREF(h->refs);
    PyMem_RawFree(h);
}

static void release(int kind, void *p) {
    if (kind == R_ENTRY)
        free_entry(p);
    else if (kind == R_HEADS)
        free_heads(p);
    else if (kind == R_OBJECT)
        Py_DECREF((PyObject *)p);
    else
        PyMem_RawFree(p);
}

static void reclaim(void) {
    uint64_t low = UINT64_MAX;
    for (int i = 0; i < MAX_READERS; i++) {
        if (!g_reader_taken[i]) continue;
        uint64_t v = atomic_load(&g_readers[i]);
        if (v && v < low) low = v;
    }
    retired **at = &g_retired;
    while (*at) {
        retired *r = *at;
        if (r->epoch < low) {
            *at = r->next;
            release(r->kind, r->p);
            PyMem_RawFree(r);
        } else {
            at = &r->next;
        }
    }
}

static int retire(int kind, void *p) {
    retired *r = PyMem_RawMalloc(sizeof(retired));
    if (!r) {
        PyErr_NoMemory();
        return -1; /* leaks p rather than freeing it under a reader */
    }
    r->epoch = atomic_load(&g_epoch);
    r->kind = kind;
    r->p = p;
    r->next = g_retired;
    g_retired = r;
    atomic_fetch_add(&g_epoch, 1);
    return 0;
}

/* ---- the table --------------------------------------------------------------------------------- */

static uint64_t g_seed;

static uint64_t hash_name(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL ^ g_seed;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

typedef struct {
    PyObject_HEAD _Atomic(slots_t *) slots;
    _Atomic(heads_t *) heads;
    size_t live, used;
    int max_udp;
} Table;

static slots_t *new_slots(size_t size) {
    slots_t *s = PyMem_RawCalloc(1, sizeof(slots_t) + size * sizeof(_Atomic(entry *)));
    if (s) s->mask = size - 1;
    return s;
}

static entry *find(slots_t *s, uint64_t h, const uint8_t *key, Py_ssize_t n, size_t *at) {
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        entry *cur = atomic_load(&s->slot[i]);
        if (!cur) return NULL;
        if (cur != TOMB && cur->hash == h && KEYLEN(cur) == n && memcmp(KEY(cur), key, n) == 0) {
            if (at) *at = i;
            return cur;
        }
    }
}

static int grow(Table *t) {
    slots_t *old = atomic_load(&t->slots);
    size_t size = 64;
    while (size < (t->live + 1) * 2) size <<= 1; /* at most half full after, 70% before the next */
    slots_t *s = new_slots(size);
    if (!s) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= old->mask; i++) {
        entry *e = atomic_load(&old->slot[i]);
        if (!e || e == TOMB) continue;
        size_t j = e->hash & s->mask;
        while (atomic_load(&s->slot[j])) j = (j + 1) & s->mask;
        atomic_store(&s->slot[j], e);
    }
    atomic_store(&t->slots, s);
    t->used = t->live;
    return retire(R_SLOTS, old);
}

static int span_of(PyObject *o, span *out, Py_ssize_t want) {
    if (!PyBytes_Check(o) || (want >= 0 && PyBytes_GET_SIZE(o) != want)) {
        PyErr_SetString(PyExc_TypeError, want >= 0 ? "expected bytes of a fixed size" : "expected bytes");
        return -1;
    }
    out->p = (const uint8_t *)PyBytes_AS_STRING(o);
    out->n = PyBytes_GET_SIZE(o);
    return 0;
}

/* header variants: a tuple of 4 bytes of 10 each */
static int check_headers(PyObject *o) {
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
        PyErr_SetString(PyExc_TypeError, "header variants: a tuple of 4");
        return -1;
    }
    span unused;
    for (int v = 0; v < 4; v++)
        if (span_of(PyTuple_GET_ITEM(o, v), &unused, 10) < 0) return -1;
    return 0;
}

static cuts_t *new_cuts(PyObject *given) {
    Py_ssize_t n = PyTuple_GET_SIZE(given);
    cuts_t *c = PyMem_RawCalloc(1, sizeof(cuts_t) + n * sizeof(cut));
    if (!c) {
        PyErr_NoMemory();
        return NULL;
    }
    c->refs = Py_NewRef(given);
    c->n = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(given, i);
        cut *r = &c->cuts[i];
        span tail;
        if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
            PyErr_SetString(PyExc_TypeError, "a cut is (type+class, limit, headers, body)");
            goto fail;
        }
        if (span_of(PyTuple_GET_ITEM(o, 0), &tail, 4) < 0) goto fail;
        memcpy(r->tail, tail.p, 4);
        r->limit = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 1));
        if (PyErr_Occurred() || check_headers(PyTuple_GET_ITEM(o, 2)) < 0 ||
            span_of(PyTuple_GET_ITEM(o, 3), &r->body, -1) < 0)
            goto fail;
        for (int v = 0; v < 4; v++) r->hdr[v] = BYTES(PyTuple_GET_ITEM(PyTuple_GET_ITEM(o, 2), v));
    }
    return c;
fail:
    Py_DECREF(c->refs);
    PyMem_RawFree(c);
    return NULL;
}

/* put(wire, head, node, cuts): node = (zone head, type+class, headers or None, body or None, ...);
 * cuts = ((type+class, limit, headers, body), ...) */
static PyObject *table_put(Table *t, PyObject *args) {
    PyObject *wire, *node, *cuts;
    int headi;
    if (!PyArg_ParseTuple(args, "SiO!O!", &wire, &headi, &PyTuple_Type, &node, &PyTuple_Type, &cuts))
        return NULL;
    Py_ssize_t nn = PyTuple_GET_SIZE(node);
    if (nn < 1 || (nn - 1) % 3 || nn > 3 * 1000 || headi < -1 || headi > 30000) {
        PyErr_SetString(PyExc_ValueError, "a rendered node is a head and triples");
        return NULL;
    }
    Py_ssize_t nt = (nn - 1) / 3;
    for (Py_ssize_t i = 0; i < nt; i++) { /* what answer() reads without the GIL: checked here */
        span tail;
        PyObject *hdrs = PyTuple_GET_ITEM(node, 2 + 3 * i), *body = PyTuple_GET_ITEM(node, 3 + 3 * i);
        if (span_of(PyTuple_GET_ITEM(node, 1 + 3 * i), &tail, 4) < 0) return NULL;
        if ((hdrs == Py_None) != (body == Py_None)) {
            PyErr_SetString(PyExc_TypeError, "headers and body: both None or neither");
            return NULL;
        }
        if (hdrs != Py_None && (check_headers(hdrs) < 0 || span_of(body, &tail, -1) < 0)) return NULL;
    }
    entry *e = PyMem_RawCalloc(1, sizeof(entry) + nt * 4);
    if (!e) return PyErr_NoMemory();
    e->wire = Py_NewRef(wire);
    e->node = Py_NewRef(node);
    e->hash = hash_name(KEY(e), KEYLEN(e));
    e->head = (int16_t)headi;
    e->ntypes = (uint16_t)nt;
    for (Py_ssize_t i = 0; i < nt; i++) memcpy(e->tails[i], BYTES(PyTuple_GET_ITEM(node, 1 + 3 * i)), 4);
    if (PyTuple_GET_SIZE(cuts) && !(e->cuts = new_cuts(cuts))) goto fail;
    if ((t->used + 1) * 10 > (atomic_load(&t->slots)->mask + 1) * 7 && grow(t) < 0) goto fail;
    slots_t *s = atomic_load(&t->slots);
    size_t at;
    entry *old = find(s, e->hash, KEY(e), KEYLEN(e), &at);
    if (old) {
        atomic_store(&s->slot[at], e);
        if (retire(R_ENTRY, old) < 0) return NULL;
    } else {
        size_t i = e->hash & s->mask;
        entry *cur;
        while ((cur = atomic_load(&s->slot[i])) && cur != TOMB) i = (i + 1) & s->mask;
        if (!cur) t->used++;
        t->live++;
        atomic_store(&s->slot[i], e);
    }
    reclaim();
    Py_RETURN_NONE;
fail:
    free_entry(e);
    return NULL;
}

static PyObject *table_clear(Table *t, PyObject *arg) {
    span key;
    if (span_of(arg, &key, -1) < 0) return NULL;
    slots_t *s = atomic_load(&t->slots);
    size_t at;
    entry *old = find(s, hash_name(key.p, key.n), key.p, key.n, &at);
    if (old) {
        atomic_store(&s->slot[at], TOMB);
        t->live--;
        if (retire(R_ENTRY, old) < 0) return NULL;
    }
    reclaim();
    Py_RETURN_NONE;
}

/* set_heads(synced, ((wire, fallthrough, dynamic_pods, pod_wire, soa_a, soa_b, soa_c), ...)) */
static PyObject *table_set_heads(Table *t, PyObject *args) {
    int synced;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "pO!", &synced, &PyTuple_Type, &list)) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(list);
    heads_t *h = PyMem_RawCalloc(1, sizeof(heads_t) + n * sizeof(head));
    if (!h) return PyErr_NoMemory();
    h->synced = synced;
    h->nheads = (int)n;
    Py_INCREF(list);
    h->refs = list;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(list, i);
        head *z = &h->heads[i];
        if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 7 || span_of(PyTuple_GET_ITEM(o, 0), &z->wire, -1) < 0 ||
            span_of(PyTuple_GET_ITEM(o, 3), &z->pod_wire, -1) < 0 ||
            span_of(PyTuple_GET_ITEM(o, 4), &z->soa_a, -1) < 0 ||
            span_of(PyTuple_GET_ITEM(o, 5), &z->soa_b, -1) < 0 ||
            span_of(PyTuple_GET_ITEM(o, 6), &z->soa_c, -1) < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a zone head is a tuple of 7");
            free_heads(h);
            return NULL;
        }
        z->fallthrough = PyObject_IsTrue(PyTuple_GET_ITEM(o, 1));
        z->dynamic_pods = PyObject_IsTrue(PyTuple_GET_ITEM(o, 2));
    }
    heads_t *old = atomic_exchange(&t->heads, h);
    if (old && retire(R_HEADS, old) < 0) return NULL;
    reclaim();
    Py_RETURN_NONE;
}

/* ---- answering (petdns.answer.fastpath.answer) ---------------------------------------------------- */

static const uint8_t QD1[8] = {0, 1, 0, 0, 0, 0, 0, 0};
static const uint8_t QD1_AR1[8] = {0, 1, 0, 0, 0, 0, 0, 1};

static int zone_of(const heads_t *hs, const uint8_t *name, Py_ssize_t n, Py_ssize_t *offset) {
    Py_ssize_t i = 0, end = n - 1;
    int found = -1, root = -1;
    if (end > 254) return -1;
    for (int k = 0; k < hs->nheads; k++)
        if (hs->heads[k].wire.n == 1 && hs->heads[k].wire.p[0] == 0) root = k;
    while (i < end) {
        for (int k = 0; found < 0 && k < hs->nheads; k++) {
            const span *w = &hs->heads[k].wire;
            if (w->n == n - i && memcmp(w->p, name + i, n - i) == 0) {
                found = k;
                *offset = i;
            }
        }
        if (name[i] > 63) return -1;
        i += name[i] + 1;
    }
    if (i != end) return -1;
    if (found < 0 && root >= 0) {
        found = root;
        *offset = end;
    }
    return found;
}

static uint8_t *put(uint8_t *o, const void *p, Py_ssize_t n) {
    memcpy(o, p, n);
    return o + n;
}

/* The reply to `d` in `out` (SEND_SIZE bytes): its length, or 0 when Python must answer it. */
static Py_ssize_t answer(const Table *t, const slots_t *s, const heads_t *hs, const uint8_t *d, Py_ssize_t len,
                         uint8_t *out, uint8_t *code) {
    if (len < 17) return 0;
    int ar1 = memcmp(d + 4, QD1_AR1, 8) == 0;
    if (!ar1 && memcmp(d + 4, QD1, 8) != 0) return 0;
    const uint8_t *z = memchr(d + 12, 0, len - 12);
    if (!z) return 0;
    Py_ssize_t qe = z - d + 5, limit = MAX_UDP_MIN;
    int variant = d[2] & 1, has_opt = 0, do_bit = 0;
    if (!ar1) {
        if (qe != len) return 0;
    } else {
        if (qe > len) return 0;
        const uint8_t *r = d + qe;
        Py_ssize_t rn = len - qe;
        if (rn < OPT_LEN || r[0] || r[1] || r[2] != 41 || r[6] != 0) return 0;
        if (OPT_LEN + (r[9] << 8 | r[10]) != rn) return 0;
        Py_ssize_t i = OPT_LEN;
        while (i + 4 <= rn) i += 4 + (r[i + 2] << 8 | r[i + 3]);
        if (i > rn) return 0;
        Py_ssize_t size = r[3] << 8 | r[4];
        if (size < MAX_UDP_MIN) size = MAX_UDP_MIN;
        do_bit = r[7] & 0x80;
        limit = (size < t->max_udp ? size : t->max_udp) - OPT_LEN;
        has_opt = 1;
        variant |= 2;
    }
    if (d[2] & 0xF8) return 0;
    Py_ssize_t n = qe - 4 - 12; /* the name, with its root label */
    uint8_t name[RECV_SIZE];
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t c = d[12 + i];
        name[i] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    const uint8_t *tail = d + qe - 4;
    const entry *e = find((slots_t *)s, hash_name(name, n), name, n, NULL);
    const uint8_t *hdr = NULL;
    span body = {NULL, 0};
    uint8_t neg[10];
    uint8_t ptr[2];
    const head *zh = NULL;
    if (e) {
        for (int i = 0; i < e->ntypes; i++) {
            if (memcmp(e->tails[i], tail, 4) == 0) {
                PyObject *hdrs = ITEM(e, 2 + 3 * i), *b = ITEM(e, 3 + 3 * i);
                if (hdrs == Py_None) return 0; /* deferred to the full path */
                hdr = BYTES(PyTuple_GET_ITEM(hdrs, variant));
                body.p = BYTES(b);
                body.n = PyBytes_GET_SIZE(b);
                break;
            }
        }
    }
    if (!hdr) { /* NODATA or NXDOMAIN, around a pointer to the zone in the question */
        if (tail[2] != 0 || tail[3] != 1 || (tail[0] == 0 && (tail[1] == 0xfb || tail[1] == 0xfc)) || !hs ||
            !hs->synced)
            return 0;
        Py_ssize_t p;
        int rcode;
        if (!e) {
            int k = zone_of(hs, name, n, &p);
            if (k < 0) return 0;
            zh = &hs->heads[k];
            if (zh->fallthrough) return 0;
            if (zh->dynamic_pods && n >= zh->pod_wire.n &&
                memcmp(name + n - zh->pod_wire.n, zh->pod_wire.p, zh->pod_wire.n) == 0)
                return 0;
            rcode = 3;
        } else {
            if (e->head < 0 || e->head >= hs->nheads) return 0;
            zh = &hs->heads[e->head];
            p = n - zh->wire.n;
            rcode = 0;
        }
        if (p < 0 || 12 + p >= POINTERS) return 0;
        unsigned flags = 0x8400 | rcode | (variant & 1 ? 0x0100 : 0);
        uint8_t h[10] = {flags >> 8, flags & 0xff, 0, 1, 0, 0, 0, 1, 0, variant >> 1};
        memcpy(neg, h, 10);
        hdr = neg;
        ptr[0] = 0xC0 | ((12 + p) >> 8);
        ptr[1] = (12 + p) & 0xff;
    }
    Py_ssize_t blen = zh ? 6 + zh->soa_a.n + zh->soa_b.n + zh->soa_c.n : body.n;
    if (12 + (qe - 12) + blen > limit) { /* too big: the truncated rendering for this limit, if kept */
        const cut *found = NULL;
        for (int i = 0; e && e->cuts && i < e->cuts->n; i++) {
            const cut *c = &e->cuts->cuts[i];
            if (c->limit == limit && memcmp(c->tail, tail, 4) == 0) {
                found = c;
                break;
            }
        }
        if (!found) return 0;
        hdr = found->hdr[variant];
        body = found->body;
        zh = NULL;
        blen = body.n;
    }
    if (qe + blen + (has_opt ? OPT_LEN : 0) > SEND_SIZE) return 0;
    uint8_t *o = put(out, d, 2);
    o = put(o, hdr, 10);
    o = put(o, d + 12, qe - 12);
    if (zh) {
        o = put(o, ptr, 2);
        o = put(o, zh->soa_a.p, zh->soa_a.n);
        o = put(o, ptr, 2);
        o = put(o, zh->soa_b.p, zh->soa_b.n);
        o = put(o, ptr, 2);
        o = put(o, zh->soa_c.p, zh->soa_c.n);
    } else {
        o = put(o, body.p, body.n);
    }
    if (has_opt) {
        uint8_t opt[OPT_LEN] = {0, 0, 41, t->max_udp >> 8, t->max_udp & 0xff, 0, 0, do_bit ? 0x80 : 0, 0, 0, 0};
        o = put(o, opt, OPT_LEN);
    }
    *code = tail[0] ? 0 : tail[1];
    return o - out;
}

/* answer(data) -> (reply, type code) or None: the same, under the GIL (for tests and tools) */
static PyObject *table_answer(Table *t, PyObject *arg) {
    span d;
    if (span_of(arg, &d, -1) < 0) return NULL;
    if (d.n > RECV_SIZE) Py_RETURN_NONE;
    uint8_t *out = PyMem_RawMalloc(SEND_SIZE);
    if (!out) return PyErr_NoMemory();
    uint8_t code = 0;
    Py_ssize_t n = answer(t, atomic_load(&t->slots), atomic_load(&t->heads), d.p, d.n, out, &code);
    PyObject *res = n ? Py_BuildValue("(y#i)", (const char *)out, n, (int)code) : Py_NewRef(Py_None);
    PyMem_RawFree(out);
    return res;
}

static PyObject *table_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    int max_udp;
    static char *kwlist[] = {"max_udp", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i", kwlist, &max_udp)) return NULL;
    if (max_udp < MAX_UDP_MIN || max_udp > 65535) {
        PyErr_SetString(PyExc_ValueError, "max_udp must be 512..65535");
        return NULL;
    }
    Table *t = (Table *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    slots_t *s = new_slots(64);
    if (!s) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    atomic_store(&t->slots, s);
    atomic_store(&t->heads, NULL);
    t->max_udp = max_udp;
    return (PyObject *)t;
}

static void table_dealloc(Table *t) {
    /* no reader holds a table it has no reference to: free at once */
    slots_t *s = atomic_load(&t->slots);
    if (s) {
        for (size_t i = 0; i <= s->mask; i++) {
            entry *e = atomic_load(&s->slot[i]);
            if (e && e != TOMB) free_entry(e);
        }
        PyMem_RawFree(s);
    }
    heads_t *h = atomic_load(&t->heads);
    if (h) free_heads(h);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t table_len(Table *t) { return (Py_ssize_t)t->live; }

static PyMethodDef table_methods[] = {
    {"put", (PyCFunction)table_put, METH_VARARGS, "put(wire, head, node, cuts): a name's rendering"},
    {"clear", (PyCFunction)table_clear, METH_O, "clear(wire): a name is gone"},
    {"set_heads", (PyCFunction)table_set_heads, METH_VARARGS, "set_heads(synced, heads)"},
    {"answer", (PyCFunction)table_answer, METH_O, "answer(query) -> (reply, type code) or None"},
    {NULL}};

static PySequenceMethods table_seq = {.sq_length = (lenfunc)table_len};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "petdns._fastloop.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Rendered answers by lower-case wire name, read without the GIL",
    .tp_new = table_new,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
    .tp_as_sequence = &table_seq,
};

/* ---- the loop ----------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD int fd;
    _Atomic(Table *) table; /* what the next batch is answered from (a reference); NULL: Python answers */
    int batch;
    int reader;
    socklen_t namelen;
    int nbounds;
    double bounds[MAX_BUCKETS];
    uint8_t *recv_buf, *send_buf, *names;
    struct iovec *recv_iov, *send_iov;
    struct mmsghdr *recv, *send;
    uint8_t *declined; /* per received datagram: 1 when Python must answer it */
    /* counts of the replies sent since the last return to Python */
    uint8_t *types[MAX_BUCKETS];
    Py_ssize_t ntypes[MAX_BUCKETS];
    double seconds[MAX_BUCKETS];
    uint8_t *flags;
    Py_ssize_t nflags;
    long answered, failed;
} Loop;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bucket_of(const Loop *l, double took) {
    int i = 0;
    while (i < l->nbounds && l->bounds[i] < took) i++;
    return i;
}

/* sendmmsg the first `count` staged replies, skipping any that fail; returns how many failed */
static int flush(Loop *l, int count) {
    int sent = 0, failed = 0;
    while (sent < count) {
        int n = sendmmsg(l->fd, l->send + sent, count - sent, 0);
        if (n > 0)
            sent += n;
        else if (errno != EINTR) {
            sent++;
            failed++;
        }
    }
    return failed;
}

static void stage(Loop *l, int slot, int source, Py_ssize_t len) {
    l->send_iov[slot].iov_len = len;
    l->send[slot].msg_hdr.msg_name = l->names + source * NAME_SIZE;
    l->send[slot].msg_hdr.msg_namelen = l->namelen;
}

/* Batches until one has queries for Python, is not full (the socket is drained), the counts are due,
 * or 0.1 s went by. Returns the number of datagrams of the last batch, or -errno. */
static int serve(Loop *l) {
    double began = now();
    for (;;) {
        for (int i = 0; i < l->batch; i++) l->recv[i].msg_hdr.msg_namelen = NAME_SIZE;
        int n = recvmmsg(l->fd, l->recv, l->batch, MSG_WAITFORONE, NULL);
        if (n < 0) return errno == EAGAIN ? -EINTR : -errno;
        if (n == 0) return 0;
        double start = now();
        atomic_store(&g_readers[l->reader], atomic_load(&g_epoch));
        Table *t = atomic_load(&l->table);
        slots_t *s = t ? atomic_load(&t->slots) : NULL;
        heads_t *hs = t ? atomic_load(&t->heads) : NULL;
        int slot = 0, handed = 0;
        uint8_t codes[n];
        for (int i = 0; i < n; i++) {
            Py_ssize_t len = l->recv[i].msg_len;
            uint8_t *out = l->send_buf + (size_t)slot * SEND_SIZE;
            Py_ssize_t m = t && len <= RECV_SIZE
                               ? answer(t, s, hs, l->recv_buf + (size_t)i * RECV_SIZE, len, out, &codes[slot])
                               : 0;
            l->declined[i] = m == 0;
            if (m) {
                stage(l, slot, i, m);
                slot++;
            } else {
                handed++;
            }
        }
        atomic_store(&g_readers[l->reader], 0);
        if (slot) {
            int failed = flush(l, slot);
            double took = now() - start;
            int b = bucket_of(l, took);
            memcpy(l->types[b] + l->ntypes[b], codes, slot);
            l->ntypes[b] += slot;
            l->seconds[b] += took * slot;
            for (int k = 0; k < slot; k++) l->flags[l->nflags++] = l->send_buf[(size_t)k * SEND_SIZE + 3];
            l->answered += slot - failed;
            l->failed += failed;
        }
        if (handed || n < l->batch || l->nflags >= FOLD_AT || now() - began > 0.1) return n;
    }
}

/* use(table or None): answer from `table` from the next batch on (any thread) */
static PyObject *loop_use(Loop *l, PyObject *arg) {
    if (arg != Py_None && !PyObject_TypeCheck(arg, &TableType)) {
        PyErr_SetString(PyExc_TypeError, "use(table or None)");
        return NULL;
    }
    Table *t = arg == Py_None ? NULL : (Table *)Py_NewRef(arg);
    Table *old = atomic_exchange(&l->table, t);
    if (old && retire(R_OBJECT, old) < 0) return NULL;
    reclaim();
    Py_RETURN_NONE;
}

/* run() -> (errno or 0, [(index, datagram) for Python], [(bucket, type codes, seconds)], reply flags,
 * answered, failed) */
static PyObject *loop_run(Loop *l, PyObject *unused) {
    (void)unused;
    int n;
    Py_BEGIN_ALLOW_THREADS n = serve(l);
    Py_END_ALLOW_THREADS
    PyObject *declined = PyList_New(0), *buckets = PyList_New(0), *res = NULL;
    if (!declined || !buckets) goto done;
    for (int i = 0; i < n; i++) {
        if (!l->declined[i]) continue;
        PyObject *item = Py_BuildValue("(iy#)", i, (const char *)l->recv_buf + (size_t)i * RECV_SIZE,
                                       (Py_ssize_t)(l->recv[i].msg_len <= RECV_SIZE ? l->recv[i].msg_len : RECV_SIZE));
        if (!item || PyList_Append(declined, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    for (int b = 0; b <= l->nbounds; b++) {
        if (!l->ntypes[b]) continue;
        PyObject *item = Py_BuildValue("(iy#d)", b, (const char *)l->types[b], l->ntypes[b], l->seconds[b]);
        if (!item || PyList_Append(buckets, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
        l->ntypes[b] = 0;
        l->seconds[b] = 0;
    }
    res = Py_BuildValue("(iOOy#ll)", n < 0 ? -n : 0, declined, buckets, (const char *)l->flags, l->nflags,
                        l->answered, l->failed);
    l->nflags = 0;
    l->answered = l->failed = 0;
done:
    Py_XDECREF(declined);
    Py_XDECREF(buckets);
    return res;
}

static PyObject *loop_stage(Loop *l, PyObject *args) {
    int slot, source;
    span reply;
    if (!PyArg_ParseTuple(args, "iiy#", &slot, &source, &reply.p, &reply.n)) return NULL;
    if (slot < 0 || slot >= l->batch || source < 0 || source >= l->batch || reply.n > SEND_SIZE) {
        PyErr_SetString(PyExc_ValueError, "slot, source or reply size out of range");
        return NULL;
    }
    memcpy(l->send_buf + (size_t)slot * SEND_SIZE, reply.p, reply.n);
    stage(l, slot, source, reply.n);
    Py_RETURN_NONE;
}

static PyObject *loop_flush(Loop *l, PyObject *arg) {
    int count = PyLong_AsLong(arg);
    if (count == -1 && PyErr_Occurred()) return NULL;
    if (count < 0 || count > l->batch) {
        PyErr_SetString(PyExc_ValueError, "count out of range");
        return NULL;
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS failed = flush(l, count);
    Py_END_ALLOW_THREADS return PyLong_FromLong(failed);
}

/* peer(source) -> the sender's socket address, raw (sockaddr_in or sockaddr_in6) */
static PyObject *loop_peer(Loop *l, PyObject *arg) {
    int source = PyLong_AsLong(arg);
    if (source == -1 && PyErr_Occurred()) return NULL;
    if (source < 0 || source >= l->batch) {
        PyErr_SetString(PyExc_ValueError, "source out of range");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)l->names + source * NAME_SIZE, l->namelen);
}

static void loop_dealloc(Loop *l) {
    Py_XDECREF(atomic_load(&l->table));
    if (l->reader >= 0) {
        atomic_store(&g_readers[l->reader], 0);
        g_reader_taken[l->reader] = 0;
    }
    PyMem_RawFree(l->recv_buf);
    PyMem_RawFree(l->send_buf);
    PyMem_RawFree(l->names);
    PyMem_RawFree(l->recv_iov);
    PyMem_RawFree(l->send_iov);
    PyMem_RawFree(l->recv);
    PyMem_RawFree(l->send);
    PyMem_RawFree(l->declined);
    PyMem_RawFree(l->flags);
    for (int b = 0; b < MAX_BUCKETS; b++) PyMem_RawFree(l->types[b]);
    Py_TYPE(l)->tp_free((PyObject *)l);
}

static PyObject *loop_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    int fd, batch, family;
    PyObject *bounds;
    static char *kwlist[] = {"fd", "batch", "family", "bounds", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iiiO!", kwlist, &fd, &batch, &family, &PyTuple_Type, &bounds))
        return NULL;
    if (batch < 1 || batch > 1024 || PyTuple_GET_SIZE(bounds) >= MAX_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "batch is 1..1024, bounds fewer than 32");
        return NULL;
    }
    Loop *l = (Loop *)type->tp_alloc(type, 0);
    if (!l) return NULL;
    l->reader = -1;
    l->fd = fd;
    l->batch = batch;
    l->namelen = family == AF_INET6 ? 28 : 16;
    l->nbounds = (int)PyTuple_GET_SIZE(bounds);
    for (int i = 0; i < l->nbounds; i++) {
        l->bounds[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(bounds, i));
        if (PyErr_Occurred()) goto fail;
    }
    for (int i = 0; i < MAX_READERS && l->reader < 0; i++)
        if (!g_reader_taken[i]) {
            g_reader_taken[i] = 1;
            l->reader = i;
        }
    if (l->reader < 0) {
        PyErr_SetString(PyExc_RuntimeError, "too many loops");
        goto fail;
    }
    l->recv_buf = PyMem_RawMalloc((size_t)batch * RECV_SIZE);
    l->send_buf = PyMem_RawMalloc((size_t)batch * SEND_SIZE);
    l->names = PyMem_RawCalloc(batch, NAME_SIZE);
    l->recv_iov = PyMem_RawCalloc(batch, sizeof(struct iovec));
    l->send_iov = PyMem_RawCalloc(batch, sizeof(struct iovec));
    l->recv = PyMem_RawCalloc(batch, sizeof(struct mmsghdr));
    l->send = PyMem_RawCalloc(batch, sizeof(struct mmsghdr));
    l->declined = PyMem_RawCalloc(batch, 1);
    l->flags = PyMem_RawMalloc(FOLD_AT + batch);
    int ok = l->recv_buf && l->send_buf && l->names && l->recv_iov && l->send_iov && l->recv && l->send &&
             l->declined && l->flags;
    for (int b = 0; b <= l->nbounds; b++) ok = ok && (l->types[b] = PyMem_RawMalloc(FOLD_AT + batch));
    if (!ok) {
        PyErr_NoMemory();
        goto fail;
    }
    for (int i = 0; i < batch; i++) {
        l->recv_iov[i].iov_base = l->recv_buf + (size_t)i * RECV_SIZE;
        l->recv_iov[i].iov_len = RECV_SIZE;
        l->send_iov[i].iov_base = l->send_buf + (size_t)i * SEND_SIZE;
        l->recv[i].msg_hdr.msg_name = l->names + i * NAME_SIZE;
        l->recv[i].msg_hdr.msg_namelen = NAME_SIZE;
        l->recv[i].msg_hdr.msg_iov = &l->recv_iov[i];
        l->recv[i].msg_hdr.msg_iovlen = 1;
        l->send[i].msg_hdr.msg_iov = &l->send_iov[i];
        l->send[i].msg_hdr.msg_iovlen = 1;
    }
    return (PyObject *)l;
fail:
    Py_DECREF(l);
    return NULL;
}

static PyMethodDef loop_methods[] = {
    {"run", (PyCFunction)loop_run, METH_NOARGS, "run(): serve batches without the GIL until Python is needed"},
    {"use", (PyCFunction)loop_use, METH_O, "use(table or None): the table of the next batches"},
    {"stage", (PyCFunction)loop_stage, METH_VARARGS, "stage(slot, source, reply)"},
    {"flush", (PyCFunction)loop_flush, METH_O, "flush(count) -> failed: send the staged replies"},
    {"peer", (PyCFunction)loop_peer, METH_O, "peer(source) -> raw socket address"},
    {NULL}};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "petdns._fastloop.Loop",
    .tp_basicsize = sizeof(Loop),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One UDP socket's batches: recvmmsg, answer from a Table, sendmmsg",
    .tp_new = loop_new,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_methods = loop_methods,
};

static PyObject *mod_pending(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    Py_ssize_t n = 0;
    reclaim();
    for (retired *r = g_retired; r; r = r->next) n++;
    return PyLong_FromSsize_t(n);
}

static PyMethodDef module_methods[] = {
    {"retired", (PyCFunction)mod_pending, METH_NOARGS, "reclaim, then count what is still retired"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "petdns._fastloop",
                                    "The compiled UDP answer loop and its table", -1, module_methods};

PyMODINIT_FUNC PyInit__fastloop(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_seed = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    if (PyType_Ready(&TableType) < 0 || PyType_Ready(&LoopType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Table", (PyObject *)&TableType) < 0 ||
        PyModule_AddObjectRef(m, "Loop", (PyObject *)&LoopType) < 0 ||
        PyModule_AddIntConstant(m, "RECV_SIZE", RECV_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
