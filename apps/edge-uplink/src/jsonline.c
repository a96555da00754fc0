#define _POSIX_C_SOURCE 200809L

#include "jsonline.h"

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t jsonline_strip_eol(const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    return len;
}

enum jsonline_status jsonline_check(const char *line, size_t len)
{
    char stack[JSONLINE_MAX_DEPTH];
    size_t depth = 0;
    size_t first = 0, last, i;
    int in_string = 0;

    if (len > JSONLINE_MAX)
        return JSONLINE_TOO_LONG;
    while (first < len && is_json_space(line[first]))
        first++;
    if (first == len)
        return JSONLINE_EMPTY;
    last = len - 1;
    while (last > first && is_json_space(line[last]))
        last--;
    if (line[first] != '{' || line[last] != '}' || last == first)
        return JSONLINE_NOT_OBJECT;

    for (i = first; i <= last; i++) {
        char c = line[i];

        if (c == '\0')
            return JSONLINE_NUL;
        if (in_string) {
            if (c == '\\') {
                /* the escaped byte cannot end the string; a NUL is still refused */
                if (i == last)
                    return JSONLINE_BAD_STRING;
                i++;
                if (line[i] == '\0')
                    return JSONLINE_NUL;
                if ((unsigned char)line[i] < 0x20u)
                    return JSONLINE_BAD_STRING;
            } else if (c == '"') {
                in_string = 0;
            } else if ((unsigned char)c < 0x20u) {
                return JSONLINE_BAD_STRING;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '{':
        case '[':
            if (depth == JSONLINE_MAX_DEPTH)
                return JSONLINE_TOO_DEEP;
            stack[depth++] = c;
            break;
        case '}':
        case ']':
            if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '['))
                return JSONLINE_UNBALANCED;
            depth--;
            if (depth == 0 && i != last)
                return JSONLINE_TRAILING;
            break;
        default:
            break;
        }
    }
    if (in_string)
        return JSONLINE_BAD_STRING;
    if (depth != 0)
        return JSONLINE_UNBALANCED;
    return JSONLINE_OK;
}

const char *jsonline_status_str(enum jsonline_status status)
{
    switch (status) {
    case JSONLINE_OK:
        return "a JSON object";
    case JSONLINE_EMPTY:
        return "empty";
    case JSONLINE_TOO_LONG:
        return "longer than 262144 bytes";
    case JSONLINE_NOT_OBJECT:
        return "not a JSON object (must start with '{' and end with '}')";
    case JSONLINE_UNBALANCED:
        return "unbalanced braces or brackets";
    case JSONLINE_TRAILING:
        return "more than one JSON value on the line";
    case JSONLINE_BAD_STRING:
        return "unterminated string or raw control character in a string";
    case JSONLINE_NUL:
        return "contains a NUL byte";
    case JSONLINE_TOO_DEEP:
        return "nested too deeply";
    }
    return "invalid";
}
