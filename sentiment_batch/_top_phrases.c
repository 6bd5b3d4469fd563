/* explain.top_phrases's loop, compiled and without the GIL: one pass over each review's n-grams.
 *
 * The numpy form sorts every n-gram of the batch to group them; here each review groups its own in a small
 * open-addressing table, so the work grows with the n-grams, not with their logarithm. Both give the same
 * phrases, weights and order. Optional at build time; explain.top_phrases falls back to numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t key;   /* size * (max row + 1) + row, or -1 for an empty slot */
    int64_t first; /* the group's first entry (token * sizes + size) */
    double weight; /* the sum of its entries' shares */
} Group;

static int buffer_of(Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *name, int writable) {
    if ((writable && view->readonly) || view->len < items * item_size) {
        PyErr_Format(PyExc_ValueError, "top_phrases: %s must hold at least %zd bytes", name, items * item_size);
        return 0;
    }
    return 1;
}

/* top_phrases(evidence, rows, sizes, offsets, tokens, k, review, entry, weight) -> count
 *
 * evidence: float32 [tokens * sizes]; rows: int64 [tokens * sizes], -1 where no n-gram; offsets: int64 start of
 * each review in the tokens. Writes, per review in order, its k heaviest groups heaviest first (ties: the first
 * to occur): the review, the group's first entry and its weight (float32), and returns how many it wrote.
 */
static PyObject *top_phrases(PyObject *self, PyObject *args) {
    Py_buffer evidence, rows, offsets, review_out, entry_out, weight_out;
    Py_ssize_t sizes, tokens, k;
    if (!PyArg_ParseTuple(args, "y*y*ny*nnw*w*w*", &evidence, &rows, &sizes, &offsets, &tokens, &k, &review_out,
                          &entry_out, &weight_out))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t reviews = offsets.len / 8, entries = tokens * sizes;
    Group *table = NULL;
    Py_ssize_t *best = NULL;
    if (sizes < 1 || k < 1 || tokens < 0 || !buffer_of(&evidence, entries, 4, "evidence", 0) ||
        !buffer_of(&rows, entries, 8, "rows", 0) || !buffer_of(&review_out, reviews * k, 8, "review", 1) ||
        !buffer_of(&entry_out, reviews * k, 8, "entry", 1) || !buffer_of(&weight_out, reviews * k, 4, "weight", 1))
        goto done;
    const int64_t *starts = offsets.buf, *row = rows.buf;
    for (Py_ssize_t b = 0; b < reviews; b++) {
        Py_ssize_t end = b + 1 < reviews ? starts[b + 1] : tokens;
        if (starts[b] < 0 || starts[b] > end || end > tokens) {
            PyErr_SetString(PyExc_ValueError, "top_phrases: offsets out of order or out of range");
            goto done;
        }
    }
    int64_t largest = 0;
    for (Py_ssize_t e = 0; e < entries; e++) largest = row[e] > largest ? row[e] : largest;
    Py_ssize_t longest = 0;
    for (Py_ssize_t b = 0; b < reviews; b++) {
        Py_ssize_t end = b + 1 < reviews ? starts[b + 1] : tokens;
        longest = end - starts[b] > longest ? end - starts[b] : longest;
    }
    Py_ssize_t capacity = 16;
    while (capacity < 2 * longest * sizes) capacity *= 2;
    table = PyMem_Malloc(capacity * sizeof(Group));
    best = PyMem_Malloc(k * sizeof(Py_ssize_t));
    if (table == NULL || best == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t written = 0;
    Py_BEGIN_ALLOW_THREADS;
    const float *share = evidence.buf;
    int64_t *review_of = review_out.buf, *entry_of = entry_out.buf;
    float *weight_of = weight_out.buf;
    for (Py_ssize_t b = 0; b < reviews; b++) {
        Py_ssize_t first = starts[b] * sizes, last = (b + 1 < reviews ? starts[b + 1] : tokens) * sizes;
        Py_ssize_t slots = 16;
        while (slots < 2 * (last - first)) slots *= 2;
        for (Py_ssize_t s = 0; s < slots; s++) table[s].key = -1;
        Py_ssize_t groups = 0;
        for (Py_ssize_t e = first; e < last; e++) {
            if (row[e] < 0) continue;
            int64_t key = (int64_t)(e % sizes) * (largest + 1) + row[e];
            uint64_t slot = ((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> 32;
            slot &= (uint64_t)(slots - 1);
            while (table[slot].key != -1 && table[slot].key != key) slot = (slot + 1) & (uint64_t)(slots - 1);
            if (table[slot].key == -1) {
                table[slot].key = key;
                table[slot].first = e;
                table[slot].weight = 0.0;
                groups++;
            }
            table[slot].weight += share[e];
        }
        /* The k heaviest groups, heaviest first; a later group replaces one only when strictly heavier, and
         * equal weights keep the order of first occurrence (as a stable sort does). */
        Py_ssize_t kept = 0;
        for (Py_ssize_t s = 0; s < slots && groups; s++) {
            if (table[s].key == -1) continue;
            Py_ssize_t at = kept;
            while (at > 0 && (table[best[at - 1]].weight < table[s].weight ||
                              (table[best[at - 1]].weight == table[s].weight &&
                               table[best[at - 1]].first > table[s].first)))
                at--;
            if (at >= k) continue;
            Py_ssize_t move = (kept < k ? kept : k - 1) - at;
            memmove(best + at + 1, best + at, move * sizeof(Py_ssize_t));
            best[at] = s;
            kept = kept < k ? kept + 1 : k;
        }
        for (Py_ssize_t i = 0; i < kept; i++) {
            review_of[written] = b;
            entry_of[written] = table[best[i]].first;
            weight_of[written] = (float)table[best[i]].weight;
            written++;
        }
    }
    Py_END_ALLOW_THREADS;
    result = PyLong_FromSsize_t(written);
done:
    PyMem_Free(table);
    PyMem_Free(best);
    PyBuffer_Release(&evidence);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&review_out);
    PyBuffer_Release(&entry_out);
    PyBuffer_Release(&weight_out);
    return result;
}

static PyMethodDef methods[] = {
    {"top_phrases", top_phrases, METH_VARARGS, "Each review's k heaviest n-gram groups (see _top_phrases.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_top_phrases", NULL, -1, methods};

PyMODINIT_FUNC PyInit__top_phrases(void) { return PyModule_Create(&module); }
