/* The tokenizer's per-byte loops over a batch, compiled and without the GIL.
 *
 * Each function is one step of preprocessing.FastEncoder, on its bytes and tables: text_flags for
 * _multibyte_flags, line_breaks_to_spaces for the `<br…>` replacement in _normalize_non_ascii, normalized_classes
 * for _normalized_classes, token_ids for _VocabTable.token_ids. Optional at build time; without it preprocessing
 * hands every text to the tokenizers library, which gives the same ids.
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
    for (uint64_t probes = 0; probes <= mask; probes++) { /* _VocabTable keeps 3/4 of the slots empty */
        const uint64_t *row = table + 3 * slot;
        if (row[2] == 0) return unk;
        if (row[0] == first && row[1] == last && (row[2] & 0xFF) == (uint64_t)length) return (int64_t)(row[2] >> 8);
        slot = (slot + 1) & mask;
    }
    return unk;
}

static int writable(Py_buffer *view, Py_ssize_t items, Py_ssize_t item_size, const char *name) {
    if (view->readonly || view->len < items * item_size) {
        PyErr_Format(PyExc_ValueError, "%s must be a writable buffer of at least %zd bytes", name, items * item_size);
        return 0;
    }
    return 1;
}

static int is_ascii_space(uint8_t byte) { return byte == ' ' || (byte >= '\t' && byte <= '\r'); }

#define UNKNOWN_INFO 255 /* preprocessing._UNKNOWN: a character not looked up yet */

/* Width of the UTF-8 character whose lead byte is at position (clipped to end) and its code point. */
static Py_ssize_t decode(const uint8_t *text, Py_ssize_t position, Py_ssize_t end, uint32_t *code_point) {
    uint8_t lead = text[position];
    Py_ssize_t width = lead < 0x80 ? 1 : 2 + (lead >= 0xE0) + (lead >= 0xF0);
    if (width > end - position) width = end - position;
    uint32_t value = width == 1 ? lead : lead & (0x7F >> width);
    for (Py_ssize_t k = 1; k < width; k++) value = (value << 6) | (text[position + k] & 0x3F);
    *code_point = value;
    return width;
}

/* preprocessing._CHAR_INFO of a code point; invalid ones read as "other" with no flag. */
static uint8_t info_of(const uint8_t *char_info, uint32_t code_point) {
    return code_point < 0x110000 ? char_info[code_point] : 2;
}

/* Byte length of the line-break character (U+85, U+1680, U+2028, U+2029) at position, or 0. */
static Py_ssize_t line_break_char(const uint8_t *text, Py_ssize_t position, Py_ssize_t end) {
    const uint8_t *at = text + position;
    Py_ssize_t left = end - position;
    if (left >= 2 && at[0] == 0xC2 && at[1] == 0x85) return 2;
    if (left >= 3 && at[0] == 0xE1 && at[1] == 0x9A && at[2] == 0x80) return 3;
    if (left >= 3 && at[0] == 0xE2 && at[1] == 0x80 && (at[2] == 0xA8 || at[2] == 0xA9)) return 3;
    return 0;
}

/* Byte length of the Unicode white space (the tokenizer's \s: preprocessing._SPACE) at position, or 0. */
static Py_ssize_t unicode_space(const uint8_t *text, Py_ssize_t position, Py_ssize_t end) {
    const uint8_t *at = text + position;
    Py_ssize_t left = end - position;
    if (is_ascii_space(at[0])) return 1;
    if (left >= 2 && at[0] == 0xC2 && (at[1] == 0x85 || at[1] == 0xA0)) return 2;
    if (left < 3) return 0;
    if (at[0] == 0xE1 && at[1] == 0x9A && at[2] == 0x80) return 3;                              /* U+1680 */
    if (at[0] == 0xE2 && at[1] == 0x80 && (at[2] <= 0x8A || at[2] == 0xA8 || at[2] == 0xA9 || at[2] == 0xAF))
        return 3; /* U+2000-200A, U+2028, U+2029, U+202F (a continuation byte is never below 0x80) */
    if (at[0] == 0xE2 && at[1] == 0x81 && at[2] == 0x9F) return 3;                              /* U+205F */
    if (at[0] == 0xE3 && at[1] == 0x80 && at[2] == 0x80) return 3;                              /* U+3000 */
    return 0;
}

/* One past a `<br\s*\/?>` starting at position (case-sensitive, as the tokenizer's Replace), or 0; \s is ASCII
 * white space in ASCII texts and Unicode white space otherwise.
 */
static Py_ssize_t line_break_end(const uint8_t *text, Py_ssize_t position, Py_ssize_t end, int unicode) {
    if (end - position < 4 || text[position + 1] != 'b' || text[position + 2] != 'r') return 0;
    Py_ssize_t next = position + 3, width;
    while (next < end && (width = unicode ? unicode_space(text, next, end) : is_ascii_space(text[next]))) next += width;
    if (next < end && text[next] == '/') next++;
    return next < end && text[next] == '>' ? next + 1 : 0;
}

/* Whether offsets (int64, one per text then the end) are in order and inside a buffer of length bytes. */
static int valid_offsets(const Py_buffer *offsets, Py_ssize_t length, const char *caller) {
    Py_ssize_t texts = offsets->len / 8 - 1;
    const int64_t *bounds = offsets->buf;
    for (Py_ssize_t i = 0; i < texts; i++) {
        if (bounds[i] < 0 || bounds[i] > bounds[i + 1] || bounds[i + 1] > length) {
            PyErr_Format(PyExc_ValueError, "%s: offsets out of order or out of range", caller);
            return 0;
        }
    }
    if (texts < 0) PyErr_Format(PyExc_ValueError, "%s: no offsets", caller);
    return texts >= 0;
}

/* token_ids(raw, classes, offsets, table, bits, unk, ids, counts, long_tokens[, spans]) -> (tokens, long tokens)
 *
 * raw: the normalized texts' bytes; classes: one byte per byte (0 space, 1 word, 2 other);
 * offsets: int64 start of each text, then the end. A token is a run of one non-zero class inside a text.
 * Writes every token's id to ids (int64), each text's token count to counts (int64), and for tokens over
 * 16 bytes (id left -1) the triple (token index, start, end) to long_tokens (int64). When spans is given, each
 * token's start and end byte, counted from its text's start, go there (int64 pairs).
 */
static PyObject *token_ids(PyObject *self, PyObject *args) {
    Py_buffer raw, classes, offsets, table, ids, counts, long_tokens, spans = {0};
    int bits;
    long long unk;
    if (!PyArg_ParseTuple(args, "y*y*y*y*iLw*w*w*|w*", &raw, &classes, &offsets, &table, &bits, &unk, &ids, &counts,
                          &long_tokens, &spans))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1;
    Py_ssize_t long_capacity = long_tokens.len / 24;
    const int64_t *bounds = offsets.buf;
    if (classes.len != raw.len || texts < 0 || bits < 1 || bits > 63 || table.len < ((Py_ssize_t)24 << bits)) {
        PyErr_SetString(PyExc_ValueError, "token_ids: inconsistent buffer sizes");
        goto done;
    }
    if (!valid_offsets(&offsets, raw.len, "token_ids")) goto done;
    if (!writable(&ids, raw.len, 8, "ids") || !writable(&counts, texts, 8, "counts")) goto done;
    if (spans.buf != NULL && !writable(&spans, 2 * raw.len, 8, "spans")) goto done;
    Py_ssize_t tokens = 0, long_count = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf, *kind = classes.buf;
    int64_t *out = ids.buf, *per_text = counts.buf, *long_out = long_tokens.buf, *span_out = spans.buf;
    for (Py_ssize_t i = 0; i < texts && !overflow; i++) {
        Py_ssize_t before = tokens, position = bounds[i], end = bounds[i + 1];
        while (position < end) {
            uint8_t current = kind[position];
            Py_ssize_t start = position;
            while (position < end && kind[position] == current) position++;
            if (current == 0) continue;
            if (span_out != NULL) {
                span_out[2 * tokens] = start - bounds[i];
                span_out[2 * tokens + 1] = position - bounds[i];
            }
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
    if (spans.buf != NULL) PyBuffer_Release(&spans);
    return result;
}

/* text_flags(raw, offsets, char_info, flags) -> characters not in char_info yet
 *
 * Per text, the OR of (char_info[c] without its class bits) | 128 over its multi-byte characters c, written
 * to flags (uint8; 0 for an ASCII text). char_info is preprocessing._CHAR_INFO; when some character is not
 * in it yet (255) the flags are incomplete and preprocessing computes them itself, filling the cache.
 */
static PyObject *text_flags(PyObject *self, PyObject *args) {
    Py_buffer raw, offsets, char_info, flags;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &raw, &offsets, &char_info, &flags)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1, unknown = 0;
    if (!valid_offsets(&offsets, raw.len, "text_flags")) goto done;
    if (char_info.len != 0x110000 || !writable(&flags, texts, 1, "flags")) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "text_flags: char_info must have 0x110000 bytes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf, *table = char_info.buf;
    const int64_t *bounds = offsets.buf;
    uint8_t *out = flags.buf;
    for (Py_ssize_t i = 0; i < texts; i++) {
        uint8_t found = 0;
        for (Py_ssize_t position = bounds[i], end = bounds[i + 1]; position < end;) {
            if (text[position] < 0xC0) {
                position++;
                continue;
            }
            uint32_t code_point;
            position += decode(text, position, end, &code_point);
            uint8_t info = info_of(table, code_point);
            unknown += info == UNKNOWN_INFO;
            found |= (info & ~3) | 0x80;
        }
        out[i] = found;
    }
    Py_END_ALLOW_THREADS;
    result = PyLong_FromSsize_t(unknown);
done:
    PyBuffer_Release(&raw);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&char_info);
    PyBuffer_Release(&flags);
    return result;
}

/* normalized_classes(raw, offsets, ascii_texts, char_info, classes) -> (lower-cased bytes, unknown characters)
 *
 * Lower-cases ASCII letters, writes the class of each byte's character (char_info & 3) to classes (uint8),
 * and sets the bytes of every `<br…>` inside an ASCII text (ascii_texts: one byte per text) to class 0.
 * When some character is not in char_info yet, preprocessing redoes the multi-byte classes itself.
 */
static PyObject *normalized_classes(PyObject *self, PyObject *args) {
    Py_buffer raw, offsets, ascii_texts, char_info, classes;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &raw, &offsets, &ascii_texts, &char_info, &classes)) return NULL;
    PyObject *lowered = NULL, *result = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1, unknown = 0;
    if (!valid_offsets(&offsets, raw.len, "normalized_classes")) goto done;
    if (ascii_texts.len != texts || char_info.len != 0x110000 || !writable(&classes, raw.len, 1, "classes")) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "normalized_classes: bad buffer sizes");
        goto done;
    }
    lowered = PyBytes_FromStringAndSize(NULL, raw.len);
    if (lowered == NULL) goto done;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf, *table = char_info.buf, *is_ascii = ascii_texts.buf;
    const int64_t *bounds = offsets.buf;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(lowered), *kind = classes.buf;
    for (Py_ssize_t k = 0; k < raw.len;) {
        uint8_t byte = text[k];
        if (byte < 0x80) {
            out[k] = byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte;
            kind[k++] = table[byte] & 3;
            continue;
        }
        uint32_t code_point;
        Py_ssize_t width = decode(text, k, raw.len, &code_point);
        uint8_t info = info_of(table, code_point);
        unknown += info == UNKNOWN_INFO;
        for (Py_ssize_t end = k + width; k < end; k++) {
            out[k] = text[k];
            kind[k] = info & 3;
        }
    }
    for (Py_ssize_t i = 0; i < texts; i++) {
        if (!is_ascii[i]) continue;
        Py_ssize_t position = bounds[i], end = bounds[i + 1];
        while (position < end) {
            const uint8_t *found = memchr(text + position, '<', end - position);
            if (found == NULL) break;
            position = found - text;
            Py_ssize_t after = line_break_end(text, position, end, 0);
            if (after) {
                memset(kind + position, 0, after - position);
                position = after;
            } else {
                position++;
            }
        }
    }
    Py_END_ALLOW_THREADS;
    result = Py_BuildValue("Nn", lowered, unknown);
done:
    if (result == NULL) Py_XDECREF(lowered);
    PyBuffer_Release(&raw);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&ascii_texts);
    PyBuffer_Release(&char_info);
    PyBuffer_Release(&classes);
    return result;
}

/* line_breaks_to_spaces(raw, offsets) -> bytes
 *
 * The texts with every `<br\s*\/?>` (Unicode \s) and every U+85, U+1680, U+2028 and U+2029 replaced by as
 * many spaces as it has bytes, as the tokenizer's Replace does before NFKC (it writes one space: the same
 * tokens), without moving any text's offsets.
 */
static PyObject *line_breaks_to_spaces(PyObject *self, PyObject *args) {
    Py_buffer raw, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &raw, &offsets)) return NULL;
    PyObject *spaced = NULL;
    Py_ssize_t texts = offsets.len / 8 - 1;
    if (!valid_offsets(&offsets, raw.len, "line_breaks_to_spaces")) goto done;
    spaced = PyBytes_FromStringAndSize(raw.buf, raw.len);
    if (spaced == NULL) goto done;
    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *text = raw.buf;
    const int64_t *bounds = offsets.buf;
    char *out = PyBytes_AS_STRING(spaced);
    for (Py_ssize_t i = 0; i < texts; i++) {
        for (Py_ssize_t position = bounds[i], end = bounds[i + 1]; position < end;) {
            Py_ssize_t after = text[position] == '<' ? line_break_end(text, position, end, 1) : 0;
            if (!after && text[position] >= 0xC2) {
                Py_ssize_t width = line_break_char(text, position, end);
                after = width ? position + width : 0;
            }
            if (after) {
                memset(out + position, ' ', after - position);
                position = after;
            } else {
                position++;
            }
        }
    }
    Py_END_ALLOW_THREADS;
done:
    PyBuffer_Release(&raw);
    PyBuffer_Release(&offsets);
    return spaced;
}

static PyMethodDef methods[] = {
    {"text_flags", text_flags, METH_VARARGS, "Per-text flags of the multi-byte characters (see _token_ids.c)."},
    {"normalized_classes", normalized_classes, METH_VARARGS, "Lower-cased bytes and byte classes (see _token_ids.c)."},
    {"line_breaks_to_spaces", line_breaks_to_spaces, METH_VARARGS, "Line breaks as spaces (see _token_ids.c)."},
    {"token_ids", token_ids, METH_VARARGS, "Token ids and per-text token counts of a batch (see _token_ids.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_token_ids", NULL, -1, methods};

PyMODINIT_FUNC PyInit__token_ids(void) { return PyModule_Create(&module); }
