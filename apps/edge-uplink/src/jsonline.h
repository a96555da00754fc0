/* edge-uplink: the check that an input line is one JSON object.
 *
 * This is deliberately a light, structural check, not a JSON parser: the first
 * non-whitespace byte must be '{' and the last '}', braces and brackets must balance and nest
 * outside strings (with backslash escapes honoured inside them), strings must be closed and
 * hold no raw control characters, and nothing may follow the object that the first '{' opens.
 * Numbers, literals and commas are not checked: the broker and the consumers see the line
 * byte for byte as edge-infer wrote it. */
#ifndef EDGE_UPLINK_JSONLINE_H
#define EDGE_UPLINK_JSONLINE_H

#include <stddef.h>

/* The longest line accepted, in bytes (without its line ending). */
#define JSONLINE_MAX 262144u

/* How deep objects and arrays may nest. */
#define JSONLINE_MAX_DEPTH 512u

enum jsonline_status {
    JSONLINE_OK = 0,
    JSONLINE_EMPTY,      /* empty or only whitespace: skipped without a warning */
    JSONLINE_TOO_LONG,   /* longer than JSONLINE_MAX */
    JSONLINE_NOT_OBJECT, /* does not start with '{' and end with '}' */
    JSONLINE_UNBALANCED, /* a '}' or ']' without its opener, or an opener never closed */
    JSONLINE_TRAILING,   /* more after the object: not a single object */
    JSONLINE_BAD_STRING, /* a string never closed, or with a raw control character */
    JSONLINE_NUL,        /* a NUL byte */
    JSONLINE_TOO_DEEP    /* nested deeper than JSONLINE_MAX_DEPTH */
};

/* The length of line without its trailing '\r' and '\n' bytes. */
size_t jsonline_strip_eol(const char *line, size_t len);

/* Check line (len bytes, no line ending) as described above. */
enum jsonline_status jsonline_check(const char *line, size_t len);

/* A few words on status, for a warning ("not a JSON object"). */
const char *jsonline_status_str(enum jsonline_status status);

#endif
