/* The tokenizer's per-byte loops over a batch, compiled and without the GIL.
 *
 * normalized_classes is the compiled form of preprocessing._normalized_classes (ASCII part), token_ids of
 * _token_spans + _VocabTable.lookup: same bytes, same table, same hash, so both paths give identical ids.
 * Optional at build time; preprocessing falls back to numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SHORT_TOKEN 16 /* bytes; longer tokens are looked up in Python's dict */

static uint64_t load_le(const uint8_t *bytes, Py_ssize_t count) {
    uint64_t value = 0;
    for (Py_ssize_t k = count - 1; k >= 0; k--) value = (value << 8) | bytes[k];
    return value;
}

/* The id of a short token, probing the open-addressing table as _VocabTable does. */
static int64_t lookup(const uint8_t *token, Py_ssize_t length, const uint64_t *table, int bits, int64_t unk) {
    uint64_t first = load_le(token, length < 8 ? length : 8);
    uint64_t last = length > 8 ? load_le(token + length - 8, 8) : 0;
    uint64_t mixed = first ^ (last * 0xC2B2AE3D27D4EB4FULL) ^ (uint64_t)length;
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    uint64_t slot = (mixed * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
    for (;;) {
        const uint64_t *row = table + 3 * slot;
        if (row[2] == 0) return unk;
        if (row[0] == first && row[1] == last && (row[2] & 0xFF) == (uint64_t)length) return (int64_t)(row[2] >> 8);
        slot = (slot + 1) & mask;
    }
}

static int writable(Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *name) {
    if (view->readonly || view->len < items * item_size) {
        PyErr_Format(PyExc_ValueError, "%s must be a writable buffer of at least %zd bytes", name, items * item_size);
        return 0;
    }
    return 1;
}

/* token_ids(raw, classes, offsets, table, bits, unk, ids, counts, long_tokens) -> (tokens, long tokens)
 *
 * raw: the normalized texts' bytes; classes: one byte per byte (0 space, 1 word, 2 other);
 * offsets: int64 start of each text, then the end. A token is a run of one non-zero class inside a text.
 * Writes every token's id to ids (int64), each text's token count to counts (int64), and for tokens over
 * 16 bytes (id left -1) the triple (token index, start, end) to long_tokens (int64).
 */
static PyObject *token_ids(PyObject *self, PyObject *args) {
    Py_buffer raw, classes, offsets, table, ids, counts, long_tokens;
    int bits;
    long long unk;
    if (!PyArg_ParseTuple(args, "y*y*y*y*iLw*w*w*", &raw, &classes, &offsets, &table, &bits, &unk, &ids, &counts,
                          &long_tokens))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1;
    Py_ssize_t long_capacity = long_tokens.len / 24;
    const int64_t *bounds = offsets.buf;
    if (classes.len != raw.len || texts < 0 || bits < 1 || bits > 63 || table.len < ((Py_ssize_t)24 << bits)) {
        PyErr_SetString(PyExc_ValueError, "token_ids: inconsistent buffer sizes");
        goto done;
    }
    if (!writable(&ids, raw.len, 8, "ids") || !writable(&counts, texts, 8, "counts")) goto done;
    for (Py_ssize_t i = 0; i < texts; i++) {
        if (bounds[i] < 0 || bounds[i] > bounds[i + 1] || bounds[i + 1] > raw.len) {
            PyErr_SetString(PyExc_ValueError, "token_ids: offsets out of order or out of range");
            goto done;
        }
    }
    Py_ssize_t tokens = 0, long_count = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf, *kind = classes.buf;
    int64_t *out = ids.buf, *per_text = counts.buf, *long_out = long_tokens.buf;
    for (Py_ssize_t i = 0; i < texts && !overflow; i++) {
        Py_ssize_t before = tokens, position = bounds[i], end = bounds[i + 1];
        while (position < end) {
            uint8_t current = kind[position];
            Py_ssize_t start = position;
            while (position < end && kind[position] == current) position++;
            if (current == 0) continue;
            Py_ssize_t length = position - start;
            if (length <= SHORT_TOKEN) {
                out[tokens] = lookup(text + start, length, table.buf, bits, unk);
            } else if (long_count < long_capacity) {
                out[tokens] = -1;
                long_out[3 * long_count] = tokens;
                long_out[3 * long_count + 1] = start;
                long_out[3 * long_count + 2] = position;
                long_count++;
            } else {
                overflow = 1;
                break;
            }
            tokens++;
        }
        per_text[i] = tokens - before;
    }
    Py_END_ALLOW_THREADS;
    if (overflow)
        PyErr_SetString(PyExc_ValueError, "token_ids: long_tokens is too small");
    else
        result = Py_BuildValue("nn", tokens, long_count);
done:
    PyBuffer_Release(&raw);
    PyBuffer_Release(&classes);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&table);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&long_tokens);
    return result;
}

static int is_ascii_space(uint8_t byte) { return byte == ' ' || (byte >= '\t' && byte <= '\r'); }

/* One past a `<br[\t-\r ]*\/?>` starting at position (case-sensitive, as the tokenizer's Replace), or 0. */
static Py_ssize_t line_break_end(const uint8_t *text, Py_ssize_t position, Py_ssize_t end) {
    if (end - position < 4 || text[position + 1] != 'b' || text[position + 2] != 'r') return 0;
    Py_ssize_t next = position + 3;
    while (next < end && is_ascii_space(text[next])) next++;
    if (next < end && text[next] == '/') next++;
    return next < end && text[next] == '>' ? next + 1 : 0;
}

/* normalized_classes(raw, offsets, ascii_texts, byte_classes, classes) -> lower-cased bytes
 *
 * Lower-cases ASCII letters, writes each byte's class from the 256-byte table byte_classes to classes
 * (uint8), and sets the bytes of every `<br…>` inside an ASCII text (ascii_texts: one byte per text) to
 * class 0. Multi-byte characters keep the table's class; preprocessing fixes them up afterwards.
 */
static PyObject *normalized_classes(PyObject *self, PyObject *args) {
    Py_buffer raw, offsets, ascii_texts, byte_classes, classes;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &raw, &offsets, &ascii_texts, &byte_classes, &classes)) return NULL;
    PyObject *lowered = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1;
    const int64_t *bounds = offsets.buf;
    if (texts < 0 || ascii_texts.len != texts || byte_classes.len != 256 || !writable(&classes, raw.len, 1, "classes"))
        goto done;
    for (Py_ssize_t i = 0; i < texts; i++) {
        if (bounds[i] < 0 || bounds[i] > bounds[i + 1] || bounds[i + 1] > raw.len) {
            PyErr_SetString(PyExc_ValueError, "normalized_classes: offsets out of order or out of range");
            goto done;
        }
    }
    lowered = PyBytes_FromStringAndSize(NULL, raw.len);
    if (lowered == NULL) goto done;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf, *table = byte_classes.buf, *is_ascii = ascii_texts.buf;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(lowered), *kind = classes.buf;
    for (Py_ssize_t k = 0; k < raw.len; k++) {
        uint8_t byte = text[k];
        out[k] = byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte;
        kind[k] = table[byte];
    }
    for (Py_ssize_t i = 0; i < texts; i++) {
        if (!is_ascii[i]) continue;
        Py_ssize_t position = bounds[i], end = bounds[i + 1];
        while (position < end) {
            const uint8_t *found = memchr(text + position, '<', end - position);
            if (found == NULL) break;
            position = found - text;
            Py_ssize_t after = line_break_end(text, position, end);
            if (after) {
                memset(kind + position, 0, after - position);
                position = after;
            } else {
                position++;
            }
        }
    }
    Py_END_ALLOW_THREADS;
done:
    if (lowered == NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "normalized_classes: bad buffer sizes");
    PyBuffer_Release(&raw);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&ascii_texts);
    PyBuffer_Release(&byte_classes);
    PyBuffer_Release(&classes);
    return lowered;
}

static PyMethodDef methods[] = {
    {"normalized_classes", normalized_classes, METH_VARARGS, "Lower-cased bytes and byte classes (see _token_ids.c)."},
    {"token_ids", token_ids, METH_VARARGS, "Token ids and per-text token counts of a batch (see _token_ids.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_token_ids", NULL, -1, methods};

PyMODINIT_FUNC PyInit__token_ids(void) { return PyModule_Create(&module); }
