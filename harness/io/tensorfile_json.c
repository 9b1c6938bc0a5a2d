/* The JSON reader of tensor-file headers (tensorfile_json.h). */
#include "tensorfile_json.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64     /* nesting limit: bounds the recursion on hostile input */

int pb_json_fail(pb_json_reader *p, const char *what) {
    return pb_fail(p->err, "%s: bad JSON header at byte %zu: %s", p->path, p->i, what);
}

void pb_json_skip_ws(pb_json_reader *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

int pb_json_peek(pb_json_reader *p) {
    pb_json_skip_ws(p);
    return p->i < p->n ? (unsigned char)p->s[p->i] : -1;
}

int pb_json_expect(pb_json_reader *p, char c) {
    if (pb_json_peek(p) != (unsigned char)c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return pb_json_fail(p, what);
    }
    p->i++;
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses a string; when out is not NULL decodes it into out[cap] (UTF-8),
 * failing if it does not fit. */
int pb_json_string(pb_json_reader *p, char *out, size_t cap) {
    if (pb_json_expect(p, '"')) return -1;
    size_t o = 0;
    for (;;) {
        if (p->i >= p->n) return pb_json_fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->i++];
        unsigned long cp;
        if (c == '"') break;
        if (c < 0x20) return pb_json_fail(p, "control character in string");
        if (c != '\\') {
            if (out) {  /* raw byte (UTF-8 passes through unchanged) */
                if (o + 1 >= cap) return pb_json_fail(p, "string too long");
                out[o++] = (char)c;
            }
            continue;
        }
        if (p->i >= p->n) return pb_json_fail(p, "unterminated escape");
        c = (unsigned char)p->s[p->i++];
        switch (c) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            if (p->n - p->i < 4) return pb_json_fail(p, "short \\u escape");
            cp = 0;
            for (int k = 0; k < 4; k++) {
                int h = hexval((unsigned char)p->s[p->i++]);
                if (h < 0) return pb_json_fail(p, "bad hex digit in \\u escape");
                cp = cp * 16 + (unsigned long)h;
            }
            /* Surrogate pairs are not needed by any writer of this format:
             * lone surrogates become U+FFFD. */
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            break;
        }
        default:
            return pb_json_fail(p, "bad escape in string");
        }
        if (out) {
            char u[4];
            size_t k;
            if (cp < 0x80) { u[0] = (char)cp; k = 1; }
            else if (cp < 0x800) {
                u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2;
            } else {
                u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F)); k = 3;
            }
            if (o + k >= cap) return pb_json_fail(p, "string too long");
            memcpy(out + o, u, k);
            o += k;
        }
    }
    if (out) out[o] = '\0';
    return 0;
}

/* A JSON number; *is_int says whether it is a plain non-negative integer
 * that fits int64 (then *ival holds it). */
int pb_json_number(pb_json_reader *p, int *is_int, int64_t *ival) {
    pb_json_skip_ws(p);
    int neg = 0, frac = 0, overflow = 0;
    int64_t v = 0;
    if (p->i < p->n && p->s[p->i] == '-') { neg = 1; p->i++; }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return pb_json_fail(p, "expected a number");
    if (p->s[p->i] == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9')
        return pb_json_fail(p, "leading zero in number");
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        int digit = p->s[p->i++] - '0';
        if (v > (INT64_MAX - digit) / 10) overflow = 1;
        else v = v * 10 + digit;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        frac = 1;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return pb_json_fail(p, "bad fraction in number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        frac = 1;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return pb_json_fail(p, "bad exponent in number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (is_int) *is_int = !neg && !frac && !overflow;
    if (ival) *ival = v;
    return 0;
}

static int literal(pb_json_reader *p, const char *word) {
    size_t k = strlen(word);
    pb_json_skip_ws(p);
    if (p->n - p->i < k || memcmp(p->s + p->i, word, k) != 0)
        return pb_json_fail(p, "unexpected character");
    p->i += k;
    return 0;
}

/* Validates and skips any value. */
int pb_json_skip_value(pb_json_reader *p, int depth) {
    if (depth > MAX_DEPTH) return pb_json_fail(p, "nested too deeply");
    int c = pb_json_peek(p);
    switch (c) {
    case '{':
        p->i++;
        if (pb_json_peek(p) == '}') { p->i++; return 0; }
        for (;;) {
            if (pb_json_string(p, NULL, 0) || pb_json_expect(p, ':') ||
                pb_json_skip_value(p, depth + 1))
                return -1;
            c = pb_json_peek(p);
            if (c == ',') { p->i++; continue; }
            if (c == '}') { p->i++; return 0; }
            return pb_json_fail(p, "expected ',' or '}' in object");
        }
    case '[':
        p->i++;
        if (pb_json_peek(p) == ']') { p->i++; return 0; }
        for (;;) {
            if (pb_json_skip_value(p, depth + 1)) return -1;
            c = pb_json_peek(p);
            if (c == ',') { p->i++; continue; }
            if (c == ']') { p->i++; return 0; }
            return pb_json_fail(p, "expected ',' or ']' in array");
        }
    case '"': return pb_json_string(p, NULL, 0);
    case 't': return literal(p, "true");
    case 'f': return literal(p, "false");
    case 'n': return literal(p, "null");
    case -1: return pb_json_fail(p, "unexpected end of header");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return pb_json_number(p, NULL, NULL);
        return pb_json_fail(p, "unexpected character");
    }
}
