/* explain.top_phrases's loop, compiled and without the GIL: one pass over each review's n-grams.
 *
 * Each review's tokens are first joined into words (see explain.py for the rule); every n-gram in the bag is then
 * read as the words it touches, its share added to that phrase's weight, phrases equal but for ASCII case being
 * one. Each review keeps its k heaviest phrases for its label and its k heaviest against it. The pure-Python form
 * in explain.py gives the same phrases, weights and order; this one is optional at build time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t start;  /* the phrase's first byte in its review, -1 for an empty slot */
    int64_t end;    /* one past its last byte */
    int64_t first;  /* the first entry (token * sizes + size) read as it */
    uint64_t hash;
    double weight;  /* the sum of its entries' shares */
} Group;

typedef struct {
    const uint8_t *text;
    const int64_t *spans; /* the review's tokens' [start, end) bytes */
    Py_ssize_t tokens;
    int64_t *word_of;     /* per token: its word, or -1 (punctuation outside any word) */
    int64_t *before;      /* per token: the last word at or before it, or -1 */
    int64_t *after;       /* per token: the first word at or after it, or -1 */
    int64_t *word_start, *word_end;
    uint64_t *word_hash;
} Words;

static int buffer_of(Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *name, int writable) {
    if ((writable && view->readonly) || view->len < items * item_size) {
        PyErr_Format(PyExc_ValueError, "top_phrases: %s must hold at least %zd bytes", name, items * item_size);
        return 0;
    }
    return 1;
}

/* The code point at text[*at] (valid UTF-8), advancing *at past it. */
static uint32_t next_char(const uint8_t *text, int64_t *at) {
    uint8_t lead = text[*at];
    int extra = lead < 0x80 ? 0 : lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int i = 1; i <= extra; i++) code = (code << 6) | (text[*at + i] & 0x3F);
    *at += extra + 1;
    return code;
}

/* Whether a token holds a letter or digit (Python's str.isalnum, character by character). */
static int is_word(const Words *w, Py_ssize_t t) {
    for (int64_t at = w->spans[2 * t]; at < w->spans[2 * t + 1];) {
        uint32_t code = next_char(w->text, &at); /* once: the macro reads its argument several times */
        if (Py_UNICODE_ISALNUM(code)) return 1;
    }
    return 0;
}

static int touching(const Words *w, Py_ssize_t t) { return w->spans[2 * t + 1] == w->spans[2 * t + 2]; }

/* Whether token t, between two word tokens it touches, joins them into one word: an apostrophe, a hyphen, a slash
 * or an ampersand ("didn't", "well-made", "10/10", "R&B"), or a point, comma or colon between digits ("3.5"). */
static int joins(const Words *w, Py_ssize_t t) {
    int64_t start = w->spans[2 * t], length = w->spans[2 * t + 1] - start;
    const uint8_t *c = w->text + start;
    if (length == 1 && strchr("'-/&", c[0]) != NULL) return 1;
    if (length == 3 && c[0] == 0xE2 && c[1] == 0x80 && (c[2] == 0x99 || c[2] == 0x90 || c[2] == 0x91)) return 1;
    if (length != 1 || strchr(".,:", c[0]) == NULL) return 0;
    uint8_t left = w->text[start - 1], right = w->text[start + 1];
    return left >= '0' && left <= '9' && right >= '0' && right <= '9';
}

static uint64_t hash_bytes(const uint8_t *text, int64_t start, int64_t end) {
    uint64_t hash = 1469598103934665603ULL;
    for (int64_t i = start; i < end; i++) {
        uint8_t c = text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i];
        hash = (hash ^ c) * 1099511628211ULL;
    }
    return hash;
}

/* Join the review's tokens into words; returns how many. */
static Py_ssize_t find_words(Words *w, uint8_t *wordy) {
    for (Py_ssize_t t = 0; t < w->tokens; t++) {
        wordy[t] = (uint8_t)is_word(w, t);
        w->word_of[t] = -1;
    }
    Py_ssize_t words = 0;
    for (Py_ssize_t t = 0; t < w->tokens; t++) {
        if (!wordy[t]) continue;
        Py_ssize_t last = t;
        for (;;) {
            if (last + 1 < w->tokens && touching(w, last) && wordy[last + 1])
                last += 1;
            else if (last + 2 < w->tokens && touching(w, last) && touching(w, last + 1) && wordy[last + 2] &&
                     joins(w, last + 1))
                last += 2;
            else
                break;
        }
        for (Py_ssize_t i = t; i <= last; i++) w->word_of[i] = words;
        w->word_start[words] = w->spans[2 * t];
        w->word_end[words] = w->spans[2 * last + 1];
        w->word_hash[words] = hash_bytes(w->text, w->word_start[words], w->word_end[words]);
        words++;
        t = last;
    }
    int64_t seen = -1;
    for (Py_ssize_t t = 0; t < w->tokens; t++) w->before[t] = seen = w->word_of[t] >= 0 ? w->word_of[t] : seen;
    seen = -1;
    for (Py_ssize_t t = w->tokens - 1; t >= 0; t--) w->after[t] = seen = w->word_of[t] >= 0 ? w->word_of[t] : seen;
    return words;
}

static int same_text(const uint8_t *text, const Group *g, int64_t start, int64_t end) {
    if (g->end - g->start != end - start) return 0;
    for (int64_t i = 0; i < end - start; i++) {
        uint8_t a = text[g->start + i], b = text[start + i];
        if (a != b && !((a | 32) == (b | 32) && (a | 32) >= 'a' && (a | 32) <= 'z')) return 0;
    }
    return 1;
}

/* Whether group a ranks before group b: heavier (in absolute value), then the first to occur. */
static int ranks_before(const Group *a, const Group *b) {
    double x = a->weight < 0 ? -a->weight : a->weight, y = b->weight < 0 ? -b->weight : b->weight;
    return x > y || (x == y && a->first < b->first);
}

/* Keep the k best groups of one side in a heap whose root is the worst kept. */
static void keep(const Group *table, Py_ssize_t *heap, Py_ssize_t *kept, Py_ssize_t k, Py_ssize_t slot) {
    Py_ssize_t at;
    if (*kept < k) {
        at = (*kept)++;
        while (at > 0 && ranks_before(&table[heap[(at - 1) / 2]], &table[slot])) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = slot;
        return;
    }
    if (!ranks_before(&table[slot], &table[heap[0]])) return;
    at = 0;
    for (;;) {
        Py_ssize_t child = 2 * at + 1;
        if (child >= k) break;
        if (child + 1 < k && ranks_before(&table[heap[child]], &table[heap[child + 1]])) child++;
        if (!ranks_before(&table[slot], &table[heap[child]])) break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = slot;
}

/* Empty a heap into `sorted`, best first. */
static void drain(const Group *table, Py_ssize_t *heap, Py_ssize_t kept, Py_ssize_t *sorted) {
    for (Py_ssize_t n = kept; n > 0; n--) {
        sorted[n - 1] = heap[0];
        Py_ssize_t last = heap[n - 1], at = 0;
        for (;;) {
            Py_ssize_t child = 2 * at + 1;
            if (child >= n - 1) break;
            if (child + 1 < n - 1 && ranks_before(&table[heap[child]], &table[heap[child + 1]])) child++;
            if (!ranks_before(&table[last], &table[heap[child]])) break;
            heap[at] = heap[child];
            at = child;
        }
        heap[at] = last;
    }
}

/* top_phrases(evidence, rows, sizes, offsets, tokens, k, spans, text, bases, review, start, end, weight) -> count
 *
 * evidence: float32 [tokens * sizes]; rows: int64 [tokens * sizes], -1 where no n-gram; offsets: int64 start of
 * each review in the tokens; spans: int64 [tokens * 2], each token's bytes in its review; text: the reviews'
 * UTF-8, review b from bases[b] to bases[b + 1]. Writes, per review in order, up to k phrases for its label and
 * k against, heaviest (absolute weight) first, ties to the first to occur: the review, the phrase's start and
 * end byte and its weight (float32); returns how many it wrote.
 */
static PyObject *top_phrases(PyObject *self, PyObject *args) {
    Py_buffer evidence, rows, offsets, spans, text, bases, review_out, start_out, end_out, weight_out;
    Py_ssize_t sizes, tokens, k;
    if (!PyArg_ParseTuple(args, "y*y*ny*nny*y*y*w*w*w*w*", &evidence, &rows, &sizes, &offsets, &tokens, &k, &spans,
                          &text, &bases, &review_out, &start_out, &end_out, &weight_out))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t reviews = offsets.len / 8, entries = tokens * sizes, capacity = review_out.len / 8;
    Group *table = NULL;
    Py_ssize_t *heaps = NULL;
    int64_t *scratch = NULL;
    uint8_t *wordy = NULL;
    if (sizes < 1 || k < 1 || tokens < 0 || !buffer_of(&evidence, entries, 4, "evidence", 0) ||
        !buffer_of(&rows, entries, 8, "rows", 0) || !buffer_of(&spans, tokens * 2, 8, "spans", 0) ||
        !buffer_of(&bases, reviews + 1, 8, "bases", 0) || !buffer_of(&start_out, capacity, 8, "start", 1) ||
        !buffer_of(&end_out, capacity, 8, "end", 1) || !buffer_of(&weight_out, capacity, 4, "weight", 1))
        goto done;
    const int64_t *starts = offsets.buf, *row = rows.buf, *span = spans.buf, *base = bases.buf;
    Py_ssize_t longest = 0;
    for (Py_ssize_t b = 0; b < reviews; b++) {
        Py_ssize_t end = b + 1 < reviews ? starts[b + 1] : tokens;
        if (starts[b] < 0 || starts[b] > end || end > tokens || base[b] < 0 || base[b] > base[b + 1] ||
            base[b + 1] > text.len) {
            PyErr_SetString(PyExc_ValueError, "top_phrases: offsets out of order or out of range");
            goto done;
        }
        longest = end - starts[b] > longest ? end - starts[b] : longest;
    }
    for (Py_ssize_t t = 0; t < tokens; t++)
        if (span[2 * t] < 0 || span[2 * t] > span[2 * t + 1]) {
            PyErr_SetString(PyExc_ValueError, "top_phrases: spans out of order");
            goto done;
        }
    Py_ssize_t slots_max = 16, side = k < longest * sizes ? k : longest * sizes;
    while (slots_max < 2 * longest * sizes) slots_max *= 2;
    table = PyMem_Malloc(slots_max * sizeof(Group));
    heaps = PyMem_Malloc((4 * side + 1) * sizeof(Py_ssize_t));
    scratch = PyMem_Malloc((6 * longest + 1) * sizeof(int64_t));
    wordy = PyMem_Malloc(longest + 1);
    if (table == NULL || heaps == NULL || scratch == NULL || wordy == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t written = 0, overflow = 0;
    Py_BEGIN_ALLOW_THREADS;
    const float *share = evidence.buf;
    int64_t *review_of = review_out.buf, *start_of = start_out.buf, *end_of = end_out.buf;
    float *weight_of = weight_out.buf;
    Py_ssize_t *positive = heaps, *negative = heaps + side, *best_for = heaps + 2 * side, *best_against = heaps + 3 * side;
    for (Py_ssize_t b = 0; b < reviews && !overflow; b++) {
        Py_ssize_t first_token = starts[b], end_token = b + 1 < reviews ? starts[b + 1] : tokens;
        Words w = {(const uint8_t *)text.buf + base[b], span + 2 * first_token, end_token - first_token, scratch,
                   scratch + longest, scratch + 2 * longest, scratch + 3 * longest, scratch + 4 * longest,
                   (uint64_t *)(scratch + 5 * longest)};
        if (find_words(&w, wordy) == 0) continue;
        Py_ssize_t slots = 16;
        while (slots < 2 * w.tokens * sizes) slots *= 2;
        for (Py_ssize_t s = 0; s < slots; s++) table[s].start = -1;
        for (Py_ssize_t e = first_token * sizes; e < end_token * sizes; e++) {
            if (row[e] < 0) continue;
            Py_ssize_t t = e / sizes - first_token, last = t + e % sizes;
            int64_t a = -1, z = -1;
            for (Py_ssize_t i = t; i <= last; i++)
                if (w.word_of[i] >= 0) {
                    a = a < 0 ? w.word_of[i] : a;
                    z = w.word_of[i];
                }
            if (a < 0) a = z = w.before[t] >= 0 ? w.before[t] : w.after[last]; /* punctuation: the word before */
            uint64_t hash = w.word_hash[a];
            for (int64_t i = a + 1; i <= z; i++) hash = hash * 31 + w.word_hash[i];
            uint64_t slot = (hash * 0x9E3779B97F4A7C15ULL) >> 32;
            slot &= (uint64_t)(slots - 1);
            while (table[slot].start != -1 &&
                   !(table[slot].hash == hash && same_text(w.text, &table[slot], w.word_start[a], w.word_end[z])))
                slot = (slot + 1) & (uint64_t)(slots - 1);
            if (table[slot].start == -1) {
                Group fresh = {w.word_start[a], w.word_end[z], e, hash, 0.0};
                table[slot] = fresh;
            }
            table[slot].weight += share[e];
        }
        Py_ssize_t kept_for = 0, kept_against = 0;
        for (Py_ssize_t s = 0; s < slots; s++) {
            if (table[s].start == -1 || table[s].weight == 0.0) continue;
            if (table[s].weight > 0)
                keep(table, positive, &kept_for, side, s);
            else
                keep(table, negative, &kept_against, side, s);
        }
        drain(table, positive, kept_for, best_for);
        drain(table, negative, kept_against, best_against);
        if (written + kept_for + kept_against > capacity) {
            overflow = 1;
            break;
        }
        for (Py_ssize_t i = 0, j = 0; i < kept_for || j < kept_against; written++) {
            int take_for = j >= kept_against || (i < kept_for && ranks_before(&table[best_for[i]], &table[best_against[j]]));
            const Group *g = &table[take_for ? best_for[i++] : best_against[j++]];
            review_of[written] = b;
            start_of[written] = g->start;
            end_of[written] = g->end;
            weight_of[written] = (float)g->weight;
        }
    }
    Py_END_ALLOW_THREADS;
    if (overflow)
        PyErr_SetString(PyExc_ValueError, "top_phrases: the output buffers are too small");
    else
        result = PyLong_FromSsize_t(written);
done:
    PyMem_Free(table);
    PyMem_Free(heaps);
    PyMem_Free(scratch);
    PyMem_Free(wordy);
    PyBuffer_Release(&evidence);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&spans);
    PyBuffer_Release(&text);
    PyBuffer_Release(&bases);
    PyBuffer_Release(&review_out);
    PyBuffer_Release(&start_out);
    PyBuffer_Release(&end_out);
    PyBuffer_Release(&weight_out);
    return result;
}

static PyMethodDef methods[] = {
    {"top_phrases", top_phrases, METH_VARARGS, "Each review's k heaviest phrases on each side (see _top_phrases.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_top_phrases", NULL, -1, methods};

PyMODINIT_FUNC PyInit__top_phrases(void) { return PyModule_Create(&module); }
