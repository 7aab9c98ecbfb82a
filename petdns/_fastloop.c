/* petdns._fastloop: the UDP answer loop in C, reading a table of rendered answers without the GIL.
 *
 * Table: an open-addressing hash table (linear probing, at most 70% full counting tombstones) of
 * pointers to immutable entries, one per lower-case wire name. The writer (Python, holding the GIL)
 * replaces an entry with one atomic pointer store and retires the old one; the slot array is
 * replaced the same way when it grows. Retired memory is freed once every reader that might hold it
 * has left its batch (epoch-based reclamation): a reader publishes the global epoch it saw before it
 * touches a table and publishes 0 when it is done; an object retired at epoch g is freed when no
 * reader has published a value <= g. An entry is one allocation holding the name and its rendered
 * node packed (bodies copied in, zone head and header variants as indexes into registries that only
 * grow), so a name costs its bytes and not the Python objects it was rendered as; under the GIL the
 * table reads as a mapping of wire name -> node, the node rebuilt from the entry.
 *
 * Answering is exactly petdns.answer.fastpath.answer (the Python fast path); whatever it declines
 * goes back to Python. Sizes are checked before every copy: a packet is at most RECV_SIZE bytes and
 * a reply is built only when it fits SEND_SIZE.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#define RECV_SIZE 4096
#define SEND_SIZE 65536
#define NAME_SIZE 32
#define MAX_READERS 1024
#define MAX_BUCKETS 32
#define TYPE_CODES 256
#define MAX_UDP_MIN 512
#define OPT_LEN 11
#define POINTERS (12 + 256)

/* ---- memory reclamation ------------------------------------------------------------------------ */

static _Atomic uint64_t g_epoch = 1;
static _Atomic uint64_t g_readers[MAX_READERS]; /* 0: outside a batch */
static char g_reader_taken[MAX_READERS];        /* under the GIL */

enum { R_SLOTS, R_HEADS, R_ENTRY, R_OBJECT };
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

/* ---- the table --------------------------------------------------------------------------------- */

/* An entry: what a slot points to, one allocation per name, immutable once published.
 * E_PACKED: the rendered node packed here: its zone head and each type's header variants as indexes
 *   into the table's registries (which only grow); after the name, each type as type+class (4 bytes),
 *   variant index (2, NO_VARIANT for a type the full path answers) and body length (2); then the
 *   truncated renderings kept for it (`cut`), each a prefix of its type's body; then the bodies.
 * E_OBJECT: the node kept as the Python object (a head alone, as a marker's, or one the registries
 *   cannot take).
 * E_GONE: the name alone: a name that is gone keeps its slot, so that probe sequences stay whole,
 *   until the next rebuild. */
enum { E_GONE, E_PACKED, E_OBJECT };
#define TYPE_LEN 8
#define CUT_LEN 10
#define NO_VARIANT 0xFFFF
#define MAX_VARIANTS 0xFFFF
#define MAX_HEADS 256
#define MAX_CUTS 255

typedef struct {
    uint8_t kind, head, ntypes, wlen, ncuts;
    uint8_t elided; /* E_PACKED: the name's end, its zone head's wire, is not stored: `data` has the rest */
    uint8_t data[]; /* the lower-case wire name (`wlen` bytes of it), then what E_PACKED packs, or E_OBJECT's
                       node (a pointer) */
} entry;

/* An E_OBJECT entry's node (a reference the entry holds) */
static PyObject *node_obj(const entry *e) {
    PyObject *o;
    memcpy(&o, e->data + e->wlen, sizeof o);
    return o;
}

/* A truncated rendering, for a type+class and a size limit: its own header variants, and how much of
 * the type's body it keeps */
typedef struct {
    uint8_t tail[4];
    uint16_t limit, variant, len;
} cut;

static void read_cut(const uint8_t *r, cut *c) {
    memcpy(c->tail, r, 4);
    memcpy(&c->limit, r + 4, 2);
    memcpy(&c->variant, r + 6, 2);
    memcpy(&c->len, r + 8, 2);
}

static void write_cut(uint8_t *r, const cut *c) {
    memcpy(r, c->tail, 4);
    memcpy(r + 4, &c->limit, 2);
    memcpy(r + 6, &c->variant, 2);
    memcpy(r + 8, &c->len, 2);
}

static void free_entry(entry *e) {
    if (e->kind == E_OBJECT) Py_DECREF(node_obj(e));
    PyMem_RawFree(e);
}

typedef struct {
    size_t size;
    _Atomic(entry *) slot[];
} slots_t;

typedef struct {
    span wire, pod_wire, soa_a, soa_b, soa_c;
    int fallthrough, dynamic_pods;
} head;

typedef struct {
    int synced;
    int nheads;
    PyObject *refs;
    PyObject *marker; /* the node marking names that wait to be rendered, NULL when none wait: a miss
                         looks for it above the name */
    head heads[];
} heads_t;

#define BYTES(o) ((const uint8_t *)PyBytes_AS_STRING(o))

static void free_heads(heads_t *h) {
    Py_XDECREF(h->refs);
    Py_XDECREF(h->marker);
    PyMem_RawFree(h);
}

static size_t slots_bytes(size_t size) { return sizeof(slots_t) + size * sizeof(entry *); }

/* A slot array and the entries it holds (a table that goes) */
static void free_slots(slots_t *s) {
    for (size_t i = 0; i < s->size; i++) {
        entry *e = atomic_load(&s->slot[i]);
        if (e) free_entry(e);
    }
    munmap(s, slots_bytes(s->size));
}

static void release(int kind, void *p) {
    if (kind == R_SLOTS) /* a slot array replaced by a rebuild: its entries moved on or were retired */
        munmap(p, slots_bytes(((slots_t *)p)->size));
    else if (kind == R_HEADS)
        free_heads(p);
    else if (kind == R_ENTRY)
        free_entry(p);
    else
        Py_DECREF((PyObject *)p);
}

static void reclaim(void) {
    if (!g_retired) return; /* nothing waits (a load puts new names only): no readers to scan */
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

static uint64_t g_seed;

static uint64_t hash_name(const uint8_t *p, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL ^ g_seed;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

typedef const uint8_t *variants_t[4]; /* a header-variants tuple's 4 headers (10 bytes each) */

typedef struct {
    PyObject_HEAD _Atomic(slots_t *) slots;
    _Atomic(heads_t *) heads;
    PyObject *dynamic; /* the zone head of names only the full path answers */
    size_t live, used; /* names held; slots with an entry */
    int max_udp;
    /* the registries packed entries index (written under the GIL before an entry that uses a new
     * index is published; never shrinking): zone heads, and header variants, whose tuples
     * `variant_objs` keeps alive (`variant_index`: tuple -> index) */
    int nhead_objs;
    PyObject *head_objs[MAX_HEADS];
    PyObject *head_wires[MAX_HEADS]; /* each head's `wire` (bytes), NULL when it has none */
    PyObject *variant_index, *variant_objs;
    variants_t *variants; /* MAX_VARIANTS, mapped: zero pages until used */
} Table;

/* Slot arrays are mapped, not allocated: zero pages until written, and given back whole when freed
 * (a heap would keep the arrays a growing table leaves behind) */
static slots_t *new_slots(size_t size) {
    slots_t *s = mmap(NULL, slots_bytes(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return NULL;
    s->size = size;
    return s;
}

static inline size_t home(uint64_t h, size_t size) { return (size_t)(((unsigned __int128)h * size) >> 64); }

/* Whether an entry is the one of the wire name `key` */
static int matches(const Table *t, const entry *e, const uint8_t *key, Py_ssize_t n) {
    if (!e->elided) return e->wlen == n && memcmp(e->data, key, n) == 0;
    PyObject *end = t->head_wires[e->head];
    Py_ssize_t m = PyBytes_GET_SIZE(end);
    return e->wlen + m == n && memcmp(e->data, key, e->wlen) == 0 && memcmp(key + e->wlen, BYTES(end), m) == 0;
}

/* An entry's whole wire name, into `out` (255 bytes); its length */
static Py_ssize_t name_of(const Table *t, const entry *e, uint8_t *out) {
    memcpy(out, e->data, e->wlen);
    if (!e->elided) return e->wlen;
    PyObject *end = t->head_wires[e->head];
    memcpy(out + e->wlen, BYTES(end), PyBytes_GET_SIZE(end));
    return e->wlen + PyBytes_GET_SIZE(end);
}

/* The slot of `key`, or the empty slot that ends its probe sequence (the writer's view) */
static _Atomic(entry *) *find(const Table *t, const slots_t *s, const uint8_t *key, Py_ssize_t n) {
    size_t i = home(hash_name(key, n), s->size);
    for (;;) {
        _Atomic(entry *) *p = (_Atomic(entry *) *)&s->slot[i];
        entry *e = atomic_load(p);
        if (!e || matches(t, e, key, n)) return p;
        if (++i == s->size) i = 0;
    }
}

/* What a reader finds for `key`: its entry, NULL when it has none (or only had one) */
static const entry *lookup(const Table *t, const slots_t *s, const uint8_t *key, Py_ssize_t n) {
    size_t i = home(hash_name(key, n), s->size);
    for (;;) {
        const entry *e = atomic_load(&s->slot[i]);
        if (!e) return NULL;
        if (matches(t, e, key, n)) return e->kind == E_GONE ? NULL : e;
        if (++i == s->size) i = 0;
    }
}

static const uint8_t *types_of(const entry *e) { return e->data + e->wlen; }
static const uint8_t *cuts_of(const entry *e) { return types_of(e) + TYPE_LEN * e->ntypes; }
static const uint8_t *bodies_of(const entry *e) { return cuts_of(e) + CUT_LEN * e->ncuts; }

static int is_dynamic(const Table *t, const entry *e) {
    return (e->kind == E_PACKED ? t->head_objs[e->head] : PyTuple_GET_ITEM(node_obj(e), 0)) == t->dynamic;
}

/* The type+class `tail` in an entry: 1 with its header for `variant` and body, -1 when the full path
 * answers that type, 0 when the name has no such type */
static int find_type(const Table *t, const entry *e, const uint8_t *tail, int variant, const uint8_t **hdr,
                     span *body) {
    if (e->kind == E_PACKED) {
        const uint8_t *r = types_of(e), *b = bodies_of(e);
        for (int k = 0; k < e->ntypes; k++, r += TYPE_LEN) {
            uint16_t v, len;
            memcpy(&v, r + 4, 2);
            memcpy(&len, r + 6, 2);
            if (memcmp(r, tail, 4) == 0) {
                if (v == NO_VARIANT) return -1;
                *hdr = t->variants[v][variant];
                body->p = b;
                body->n = len;
                return 1;
            }
            b += len;
        }
        return 0;
    }
    PyObject *node = node_obj(e);
    for (Py_ssize_t i = 1; i < PyTuple_GET_SIZE(node); i += 3) {
        if (memcmp(BYTES(PyTuple_GET_ITEM(node, i)), tail, 4) == 0) {
            PyObject *hdrs = PyTuple_GET_ITEM(node, i + 1), *b = PyTuple_GET_ITEM(node, i + 2);
            if (hdrs == Py_None) return -1;
            *hdr = BYTES(PyTuple_GET_ITEM(hdrs, variant));
            body->p = BYTES(b);
            body->n = PyBytes_GET_SIZE(b);
            return 1;
        }
    }
    return 0;
}

/* Into a fresh slot array that has room: no reader sees it yet */
static void place(const Table *t, slots_t *s, entry *e) {
    uint8_t name[255];
    atomic_store(find(t, s, name, name_of(t, e, name)), e);
}

/* A new slot array for the names held, half full (at most 70% before the next), published at once;
 * the names that are gone are left behind */
static int rebuild(Table *t) {
    slots_t *old = atomic_load(&t->slots);
    size_t size = 2 * (t->live + 1) > 64 ? 2 * (t->live + 1) : 64;
    slots_t *s = new_slots(size);
    if (!s) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < old->size; i++) {
        entry *e = atomic_load(&old->slot[i]);
        if (e && e->kind != E_GONE) place(t, s, e);
    }
    atomic_store(&t->slots, s);
    t->used = t->live;
    int failed = 0;
    for (size_t i = 0; i < old->size; i++) { /* what the old array alone held: retired with it */
        entry *e = atomic_load(&old->slot[i]);
        if (e && e->kind == E_GONE && retire(R_ENTRY, e) < 0) failed = 1;
    }
    return retire(R_SLOTS, old) < 0 || failed ? -1 : 0;
}

static int span_of(PyObject *o, span *out, Py_ssize_t want) {
    if (!PyBytes_Check(o) || (want >= 0 && PyBytes_GET_SIZE(o) != want)) {
        PyErr_SetString(PyExc_TypeError, want >= 0 ? "expected bytes of a fixed size" : "expected bytes");
        return -1;
    }
    out->p = BYTES(o);
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

/* The index of a zone head object in the registry, added if new; -1 when it is full */
static int head_index(Table *t, PyObject *obj) {
    for (int k = 0; k < t->nhead_objs; k++)
        if (t->head_objs[k] == obj) return k;
    if (t->nhead_objs == MAX_HEADS) return -1;
    PyObject *wire = PyObject_GetAttrString(obj, "wire");
    if (!wire) PyErr_Clear();
    if (wire && (!PyBytes_Check(wire) || PyBytes_GET_SIZE(wire) < 1)) Py_CLEAR(wire);
    t->head_wires[t->nhead_objs] = wire; /* the reference GetAttr gave */
    t->head_objs[t->nhead_objs] = Py_NewRef(obj);
    return t->nhead_objs++;
}

/* The index of header variants (checked) in the registry, added if new; -1 when it is full, -2 on an
 * error */
static int variant_index(Table *t, PyObject *hdrs) {
    PyObject *found = PyDict_GetItemWithError(t->variant_index, hdrs);
    if (found) return (int)PyLong_AsLong(found);
    if (PyErr_Occurred()) return -2;
    Py_ssize_t k = PyList_GET_SIZE(t->variant_objs);
    if (k >= MAX_VARIANTS) return -1;
    PyObject *index = PyLong_FromSsize_t(k);
    if (!index) return -2;
    int failed = PyDict_SetItem(t->variant_index, hdrs, index) < 0 || PyList_Append(t->variant_objs, hdrs) < 0;
    Py_DECREF(index);
    if (failed) return -2;
    for (int v = 0; v < 4; v++) t->variants[k][v] = BYTES(PyTuple_GET_ITEM(hdrs, v));
    return (int)k;
}

static entry *new_entry(int kind, const uint8_t *wire, Py_ssize_t wlen, size_t more) {
    entry *e = PyMem_RawMalloc(sizeof(entry) + wlen + more);
    if (!e) {
        PyErr_NoMemory();
        return NULL;
    }
    e->kind = (uint8_t)kind;
    e->head = e->ntypes = e->ncuts = e->elided = 0;
    e->wlen = (uint8_t)wlen;
    memcpy(e->data, wire, wlen);
    return e;
}

/* A checked node as an entry: packed when the registries allow, else the node as the object */
static entry *pack(Table *t, span wire, PyObject *node) {
    Py_ssize_t nn = PyTuple_GET_SIZE(node), k = (nn - 1) / 3;
    size_t bodies = 0;
    uint16_t vs[256];
    int head = nn > 1 && k < 256 ? head_index(t, PyTuple_GET_ITEM(node, 0)) : -1;
    for (Py_ssize_t j = 0; head >= 0 && j < k; j++) {
        PyObject *hdrs = PyTuple_GET_ITEM(node, 1 + 3 * j + 1), *body = PyTuple_GET_ITEM(node, 1 + 3 * j + 2);
        if (hdrs == Py_None) {
            vs[j] = NO_VARIANT;
            continue;
        }
        int v = PyBytes_GET_SIZE(body) <= 0xFFFF ? variant_index(t, hdrs) : -1;
        if (v == -2) return NULL;
        if (v < 0) head = -1;
        vs[j] = (uint16_t)v;
        bodies += PyBytes_GET_SIZE(body);
    }
    entry *e;
    if (head < 0) {
        e = new_entry(E_OBJECT, wire.p, wire.n, sizeof(PyObject *));
        if (e) {
            Py_INCREF(node);
            memcpy(e->data + wire.n, &node, sizeof node);
        }
        return e;
    }
    PyObject *end = t->head_wires[head]; /* the name's end, kept once for every name of its zone */
    Py_ssize_t m = end ? PyBytes_GET_SIZE(end) : 0, kept = wire.n;
    if (m && wire.n > m && memcmp(wire.p + wire.n - m, BYTES(end), m) == 0) kept = wire.n - m;
    e = new_entry(E_PACKED, wire.p, kept, TYPE_LEN * k + bodies);
    if (!e) return NULL;
    e->elided = kept != wire.n;
    e->head = (uint8_t)head;
    e->ntypes = (uint8_t)k;
    uint8_t *r = e->data + kept, *b = r + TYPE_LEN * k;
    for (Py_ssize_t j = 0; j < k; j++, r += TYPE_LEN) {
        PyObject *body = PyTuple_GET_ITEM(node, 1 + 3 * j + 2);
        uint16_t len = vs[j] == NO_VARIANT ? 0 : (uint16_t)PyBytes_GET_SIZE(body);
        memcpy(r, BYTES(PyTuple_GET_ITEM(node, 1 + 3 * j)), 4);
        memcpy(r + 4, &vs[j], 2);
        memcpy(r + 6, &len, 2);
        if (len) memcpy(b, BYTES(body), len);
        b += len;
    }
    return e;
}

/* Publish `e` at its name (replacing and retiring what was there); takes `e` */
static int publish(Table *t, entry *e) {
    if ((t->used + 1) * 10 > atomic_load(&t->slots)->size * 7 && rebuild(t) < 0) {
        free_entry(e);
        return -1;
    }
    uint8_t name[255];
    _Atomic(entry *) *p = find(t, atomic_load(&t->slots), name, name_of(t, e, name));
    entry *old = atomic_exchange(p, e); /* filled before it is published: a reader that sees it sees all */
    if (!old) t->used++;
    if (!old || old->kind == E_GONE) t->live += e->kind != E_GONE;
    else if (e->kind == E_GONE) t->live--;
    return old ? retire(R_ENTRY, old) : 0;
}

/* put(wire, node): node = (zone head, type+class, headers or None, body or None, ...) */
static PyObject *table_put(Table *t, PyObject *args) {
    PyObject *wire, *node;
    if (!PyArg_ParseTuple(args, "SO!", &wire, &PyTuple_Type, &node)) return NULL;
    Py_ssize_t nn = PyTuple_GET_SIZE(node);
    if (nn < 1 || (nn - 1) % 3 || nn > 3 * 255 + 1) {
        PyErr_SetString(PyExc_ValueError, "a rendered node is a head and at most 255 triples");
        return NULL;
    }
    if (PyBytes_GET_SIZE(wire) < 1 || PyBytes_GET_SIZE(wire) > 255) {
        PyErr_SetString(PyExc_ValueError, "a wire name is 1 to 255 bytes");
        return NULL;
    }
    for (Py_ssize_t i = 1; i < nn; i += 3) { /* what answer() reads without the GIL: checked here */
        span tail;
        PyObject *hdrs = PyTuple_GET_ITEM(node, i + 1), *body = PyTuple_GET_ITEM(node, i + 2);
        if (span_of(PyTuple_GET_ITEM(node, i), &tail, 4) < 0) return NULL;
        if ((hdrs == Py_None) != (body == Py_None)) {
            PyErr_SetString(PyExc_TypeError, "headers and body: both None or neither");
            return NULL;
        }
        if (hdrs != Py_None && (check_headers(hdrs) < 0 || span_of(body, &tail, -1) < 0)) return NULL;
    }
    span key = {BYTES(wire), PyBytes_GET_SIZE(wire)};
    entry *e = pack(t, key, node);
    if (!e || publish(t, e) < 0) return NULL;
    reclaim();
    Py_RETURN_NONE;
}

/* cut(wire, type+class, limit, headers, body) -> bool: keep a truncated rendering for the name's
 * current node, for queries of that type whose size limit is `limit`: its header variants and its
 * body, which must be a prefix of the type's body there (it is kept as a length). False (nothing
 * kept) when the name has no packed node with that type's body, or the body is not such a prefix. */
static PyObject *table_cut(Table *t, PyObject *args) {
    span key, tail, body;
    int limit;
    PyObject *hdrs;
    if (!PyArg_ParseTuple(args, "y#y#iOy#", &key.p, &key.n, &tail.p, &tail.n, &limit, &hdrs, &body.p, &body.n))
        return NULL;
    if (tail.n != 4 || limit < 0 || limit > 0xFFFF || check_headers(hdrs) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "type+class is 4 bytes, limit 0..65535");
        return NULL;
    }
    const entry *e = lookup(t, atomic_load(&t->slots), key.p, key.n);
    const uint8_t *hdr;
    span full;
    if (!e || e->kind != E_PACKED || e->ncuts == MAX_CUTS || find_type(t, e, tail.p, 0, &hdr, &full) != 1 ||
        body.n > full.n || memcmp(body.p, full.p, body.n) != 0)
        Py_RETURN_FALSE;
    int v = variant_index(t, hdrs);
    if (v == -2) return NULL;
    if (v < 0) Py_RETURN_FALSE;
    cut c = {.limit = (uint16_t)limit, .variant = (uint16_t)v, .len = (uint16_t)body.n};
    memcpy(c.tail, tail.p, 4);
    const uint8_t *cuts = cuts_of(e), *end = bodies_of(e);
    size_t bodies = 0;
    for (const uint8_t *r = types_of(e); r < cuts; r += TYPE_LEN) {
        uint16_t len;
        memcpy(&len, r + 6, 2);
        bodies += len;
    }
    int ncuts = e->ncuts, replaced = 0;
    entry *n = new_entry(E_PACKED, e->data, e->wlen, TYPE_LEN * e->ntypes + CUT_LEN * (ncuts + 1) + bodies);
    if (!n) return NULL;
    n->head = e->head;
    n->ntypes = e->ntypes;
    n->elided = e->elided;
    memcpy(n->data + e->wlen, types_of(e), cuts - types_of(e));
    uint8_t *w = n->data + e->wlen + TYPE_LEN * e->ntypes;
    for (const uint8_t *r = cuts; r < end; r += CUT_LEN, w += CUT_LEN) { /* the same type and limit: replaced */
        cut old;
        read_cut(r, &old);
        replaced |= old.limit == c.limit && memcmp(old.tail, c.tail, 4) == 0;
        write_cut(w, old.limit == c.limit && memcmp(old.tail, c.tail, 4) == 0 ? &c : &old);
    }
    if (!replaced) {
        write_cut(w, &c);
        w += CUT_LEN;
        ncuts++;
    }
    n->ncuts = (uint8_t)ncuts;
    memcpy(w, bodies_of(e), bodies);
    if (publish(t, n) < 0) return NULL;
    reclaim();
    Py_RETURN_TRUE;
}

static PyObject *table_clear(Table *t, PyObject *arg) {
    span key;
    if (span_of(arg, &key, -1) < 0) return NULL;
    if (lookup(t, atomic_load(&t->slots), key.p, key.n)) { /* held: only its name stays */
        entry *e = new_entry(E_GONE, key.p, key.n, 0);
        if (!e || publish(t, e) < 0) return NULL;
    }
    reclaim();
    Py_RETURN_NONE;
}

/* set_heads(synced, ((wire, fallthrough, dynamic_pods, pod_wire, soa_a, soa_b, soa_c), ...), marker=None)
 * in the zone's order (longest first): a name's zone head is the first whose wire ends it */
static PyObject *table_set_heads(Table *t, PyObject *args) {
    int synced;
    PyObject *list, *marker = Py_None;
    if (!PyArg_ParseTuple(args, "pO!|O", &synced, &PyTuple_Type, &list, &marker)) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(list);
    heads_t *h = PyMem_RawCalloc(1, sizeof(heads_t) + n * sizeof(head));
    if (!h) return PyErr_NoMemory();
    h->synced = synced;
    h->marker = marker == Py_None ? NULL : Py_NewRef(marker);
    h->nheads = (int)n;
    h->refs = Py_NewRef(list);
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

/* The head of a name that has a node: the first (longest) whose wire ends it, as the zone chose it */
static const head *head_of(const heads_t *hs, const uint8_t *name, Py_ssize_t n) {
    for (int k = 0; k < hs->nheads; k++) {
        const span *w = &hs->heads[k].wire;
        if (w->n <= n && memcmp(name + n - w->n, w->p, w->n) == 0) return &hs->heads[k];
    }
    return NULL;
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
    const entry *e = lookup(t, s, name, n);
    const uint8_t *hdr = NULL;
    span body = {NULL, 0};
    uint8_t neg[10];
    uint8_t ptr[2];
    const head *zh = NULL;
    if (e && find_type(t, e, tail, variant, &hdr, &body) < 0) return 0; /* deferred to the full path */
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
            for (Py_ssize_t i = name[0] + 1; hs->marker && i < p; i += name[i] + 1) /* a marker above? */
            {
                const entry *m = lookup(t, s, name + i, n - i);
                if (m && m->kind == E_OBJECT && node_obj(m) == hs->marker) return 0;
            }
            rcode = 3;
        } else {
            if (is_dynamic(t, e)) return 0;
            zh = head_of(hs, name, n);
            if (!zh) return 0;
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
        if (zh || e->kind != E_PACKED) return 0;
        const uint8_t *r = cuts_of(e);
        cut c = {.len = 0};
        int i = 0;
        for (; i < e->ncuts; i++, r += CUT_LEN) {
            read_cut(r, &c);
            if (c.limit == limit && memcmp(c.tail, tail, 4) == 0) break;
        }
        if (i == e->ncuts) return 0;
        hdr = t->variants[c.variant][variant];
        body.n = c.len;
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
    PyObject *dynamic;
    static char *kwlist[] = {"max_udp", "dynamic", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iO", kwlist, &max_udp, &dynamic)) return NULL;
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
    t->dynamic = Py_NewRef(dynamic);
    t->max_udp = max_udp;
    t->variant_index = PyDict_New();
    t->variant_objs = PyList_New(0);
    t->variants = mmap(NULL, MAX_VARIANTS * sizeof(variants_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (t->variants == MAP_FAILED) t->variants = NULL;
    if (!t->variant_index || !t->variant_objs || !t->variants) {
        Py_DECREF(t);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    return (PyObject *)t;
}

static void table_dealloc(Table *t) {
    /* no reader holds a table it has no reference to: free at once */
    slots_t *s = atomic_load(&t->slots);
    if (s) free_slots(s);
    Py_XDECREF(t->dynamic);
    heads_t *h = atomic_load(&t->heads);
    if (h) free_heads(h);
    for (int k = 0; k < t->nhead_objs; k++) {
        Py_DECREF(t->head_objs[k]);
        Py_XDECREF(t->head_wires[k]);
    }
    Py_XDECREF(t->variant_index);
    Py_XDECREF(t->variant_objs);
    if (t->variants) munmap(t->variants, MAX_VARIANTS * sizeof(variants_t));
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t table_len(Table *t) { return (Py_ssize_t)t->live; }

/* append a new reference (NULL: the error it failed with) and let the list hold it */
static int append_new(PyObject *list, PyObject *item) {
    if (!item) return -1;
    int r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* ---- reading the table as a mapping (under the GIL): wire -> node, the one copy of the zone's names */

/* An entry's node as a new reference: the object itself, or rebuilt from the packed entry (equal to
 * the node that was put, with the registered head and header-variant objects) */
static PyObject *node_new(Table *t, const entry *e) {
    if (e->kind == E_OBJECT) return Py_NewRef(node_obj(e));
    PyObject *node = PyTuple_New(1 + 3 * (Py_ssize_t)e->ntypes);
    if (!node) return NULL;
    PyTuple_SET_ITEM(node, 0, Py_NewRef(t->head_objs[e->head]));
    const uint8_t *r = types_of(e), *b = bodies_of(e);
    for (int k = 0; k < e->ntypes; k++, r += TYPE_LEN) {
        uint16_t v, len;
        memcpy(&v, r + 4, 2);
        memcpy(&len, r + 6, 2);
        PyObject *tail = PyBytes_FromStringAndSize((const char *)r, 4);
        PyObject *hdrs = v == NO_VARIANT ? Py_NewRef(Py_None) : Py_NewRef(PyList_GET_ITEM(t->variant_objs, v));
        PyObject *body = v == NO_VARIANT ? Py_NewRef(Py_None) : PyBytes_FromStringAndSize((const char *)b, len);
        PyTuple_SET_ITEM(node, 1 + 3 * k, tail);
        PyTuple_SET_ITEM(node, 2 + 3 * k, hdrs);
        PyTuple_SET_ITEM(node, 3 + 3 * k, body);
        if (!tail || !body) {
            Py_DECREF(node);
            return NULL;
        }
        b += len;
    }
    return node;
}

/* The entry of `key`, NULL when absent or not bytes */
static const entry *entry_of(Table *t, PyObject *key) {
    if (!PyBytes_Check(key)) return NULL;
    return lookup(t, atomic_load(&t->slots), BYTES(key), PyBytes_GET_SIZE(key));
}

static PyObject *table_get(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(wire, default=None)");
        return NULL;
    }
    const entry *e = entry_of(t, args[0]);
    return e ? node_new(t, e) : Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

static PyObject *table_subscript(Table *t, PyObject *key) {
    const entry *e = entry_of(t, key);
    if (!e) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return node_new(t, e);
}

static int table_contains(Table *t, PyObject *key) { return entry_of(t, key) != NULL; }

/* keys, values or items (0, 1, 2) as a new list */
static PyObject *listing(Table *t, int what) {
    slots_t *s = atomic_load(&t->slots);
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (size_t i = 0; i < s->size; i++) {
        const entry *e = atomic_load(&s->slot[i]);
        if (!e || e->kind == E_GONE) continue;
        uint8_t name[255];
        PyObject *wire = what != 1 ? PyBytes_FromStringAndSize((const char *)name, name_of(t, e, name)) : NULL;
        PyObject *node = what != 0 ? node_new(t, e) : NULL, *item = NULL;
        if ((what == 1 || wire) && (what == 0 || node))
            item = what == 0 ? Py_NewRef(wire) : what == 1 ? Py_NewRef(node) : PyTuple_Pack(2, wire, node);
        Py_XDECREF(wire);
        Py_XDECREF(node);
        if (append_new(out, item) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *table_keys(Table *t, PyObject *unused) { return listing(t, 0); }
static PyObject *table_values(Table *t, PyObject *unused) { return listing(t, 1); }
static PyObject *table_items(Table *t, PyObject *unused) { return listing(t, 2); }

static PyObject *table_iter(Table *t) {
    PyObject *keys = listing(t, 0);
    if (!keys) return NULL;
    PyObject *it = PyObject_GetIter(keys);
    Py_DECREF(keys);
    return it;
}

static PyMethodDef table_methods[] = {
    {"put", (PyCFunction)table_put, METH_VARARGS, "put(wire, node): a name's rendering"},
    {"cut", (PyCFunction)table_cut, METH_VARARGS, "cut(wire, type+class, limit, headers, body) -> kept"},
    {"clear", (PyCFunction)table_clear, METH_O, "clear(wire): a name is gone"},
    {"set_heads", (PyCFunction)table_set_heads, METH_VARARGS, "set_heads(synced, heads, marker=None)"},
    {"answer", (PyCFunction)table_answer, METH_O, "answer(query) -> (reply, type code) or None"},
    {"get", (PyCFunction)(void (*)(void))table_get, METH_FASTCALL, "get(wire, default=None) -> node"},
    {"keys", (PyCFunction)table_keys, METH_NOARGS, "the wire names held, as a list"},
    {"values", (PyCFunction)table_values, METH_NOARGS, "the nodes held, as a list"},
    {"items", (PyCFunction)table_items, METH_NOARGS, "(wire, node) pairs, as a list"},
    {NULL}};

static PySequenceMethods table_seq = {.sq_length = (lenfunc)table_len, .sq_contains = (objobjproc)table_contains};
static PyMappingMethods table_map = {.mp_length = (lenfunc)table_len, .mp_subscript = (binaryfunc)table_subscript};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "petdns._fastloop.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Rendered answers by lower-case wire name, read without the GIL",
    .tp_new = table_new,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
    .tp_as_sequence = &table_seq,
    .tp_as_mapping = &table_map,
    .tp_iter = (getiterfunc)table_iter,
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
    /* What the loop answered since it was made, written by the serving thread alone (relaxed
     * stores) and read by `take` whenever Python counts (a scrape): replies by duration bucket and
     * type code, their time in nanoseconds by type code, replies by rcode, sent and failed. */
    _Atomic uint64_t replies[MAX_BUCKETS][TYPE_CODES];
    _Atomic uint64_t nanos[TYPE_CODES];
    _Atomic uint64_t rcodes[16];
    _Atomic uint64_t answered, failed;
    /* what `take` has handed to Python so far (under the GIL) */
    uint64_t taken_replies[MAX_BUCKETS][TYPE_CODES];
    uint64_t taken_nanos[TYPE_CODES];
    uint64_t taken_rcodes[16];
    uint64_t taken_answered, taken_failed;
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

/* one writer: a plain add, published whole to readers on other threads */
#define BUMP(counter, n)                                                                                   \
    atomic_store_explicit(&(counter), atomic_load_explicit(&(counter), memory_order_relaxed) + (n),      \
                          memory_order_relaxed)

/* Batches until one has queries for Python (or the socket is shut down): what it answers itself it
 * counts here, so a steady stream of hits never waits for the GIL, whoever holds it. Returns the
 * number of datagrams of the last batch, or -errno. */
static int serve(Loop *l) {
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
            uint64_t ns = (uint64_t)(took * 1e9);
            for (int k = 0; k < slot; k++) {
                BUMP(l->replies[b][codes[k]], 1);
                BUMP(l->nanos[codes[k]], ns);
                BUMP(l->rcodes[l->send_buf[(size_t)k * SEND_SIZE + 3] & 0x0F], 1);
            }
            BUMP(l->answered, (uint64_t)(slot - failed));
            BUMP(l->failed, (uint64_t)failed);
        }
        if (handed) return n;
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

/* run() -> (errno or 0, [(index, datagram) for Python]) */
static PyObject *loop_run(Loop *l, PyObject *unused) {
    (void)unused;
    int n;
    Py_BEGIN_ALLOW_THREADS n = serve(l);
    Py_END_ALLOW_THREADS
    PyObject *declined = PyList_New(0);
    if (!declined) return NULL;
    for (int i = 0; i < n; i++) {
        if (!l->declined[i]) continue;
        PyObject *item = Py_BuildValue("(iy#)", i, (const char *)l->recv_buf + (size_t)i * RECV_SIZE,
                                       (Py_ssize_t)(l->recv[i].msg_len <= RECV_SIZE ? l->recv[i].msg_len : RECV_SIZE));
        if (append_new(declined, item) < 0) {
            Py_DECREF(declined);
            return NULL;
        }
    }
    PyObject *res = Py_BuildValue("(iO)", n < 0 ? -n : 0, declined);
    Py_DECREF(declined);
    return res;
}

static uint64_t since(_Atomic uint64_t *counter, uint64_t *taken) {
    uint64_t now_ = atomic_load_explicit(counter, memory_order_relaxed), d = now_ - *taken;
    *taken = now_;
    return d;
}

/* take() -> ([(bucket, type code, replies)], [(type code, seconds)], [(rcode, replies)], answered, failed):
 * what the loop answered itself since the last take (any thread, while it serves) */
static PyObject *loop_take(Loop *l, PyObject *unused) {
    (void)unused;
    PyObject *replies = PyList_New(0), *seconds = PyList_New(0), *rcodes = PyList_New(0), *res = NULL;
    if (!replies || !seconds || !rcodes) goto done;
    for (int b = 0; b <= l->nbounds; b++)
        for (int c = 0; c < TYPE_CODES; c++) {
            uint64_t d = since(&l->replies[b][c], &l->taken_replies[b][c]);
            if (d && append_new(replies, Py_BuildValue("(iiK)", b, c, (unsigned long long)d)) < 0) goto done;
        }
    for (int c = 0; c < TYPE_CODES; c++) {
        uint64_t d = since(&l->nanos[c], &l->taken_nanos[c]);
        if (d && append_new(seconds, Py_BuildValue("(id)", c, (double)d * 1e-9)) < 0) goto done;
    }
    for (int r = 0; r < 16; r++) {
        uint64_t d = since(&l->rcodes[r], &l->taken_rcodes[r]);
        if (d && append_new(rcodes, Py_BuildValue("(iK)", r, (unsigned long long)d)) < 0) goto done;
    }
    uint64_t answered = since(&l->answered, &l->taken_answered), failed = since(&l->failed, &l->taken_failed);
    res = Py_BuildValue("(OOOKK)", replies, seconds, rcodes, (unsigned long long)answered, (unsigned long long)failed);
done:
    Py_XDECREF(replies);
    Py_XDECREF(seconds);
    Py_XDECREF(rcodes);
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
    int ok = l->recv_buf && l->send_buf && l->names && l->recv_iov && l->send_iov && l->recv && l->send &&
             l->declined;
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
    {"take", (PyCFunction)loop_take, METH_NOARGS, "take() -> what the loop answered since the last take"},
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
