/* The JSON line check: objects pass; arrays, bare values, unbalanced or trailing input,
 * broken strings are rejected; braces inside strings (with escapes) do not count. */
#define _POSIX_C_SOURCE 200809L

#include "jsonline.h"

#include "check.h"

static enum jsonline_status check_str(const char *s)
{
    return jsonline_check(s, strlen(s));
}

static void test_good(void)
{
    CHECK(check_str("{}") == JSONLINE_OK);
    CHECK(check_str("{\"a\":1}") == JSONLINE_OK);
    CHECK(check_str("  {\"a\":1}  ") == JSONLINE_OK);
    CHECK(check_str("\t{\"a\":[1,2,{\"b\":null}],\"c\":{\"d\":[]}}") == JSONLINE_OK);
    CHECK(check_str("{\"frame\":12,\"detections\":[{\"label\":\"person\",\"score\":0.91,"
                    "\"box\":[10,20,30,40]}]}") == JSONLINE_OK);
    /* braces and brackets inside strings do not count */
    CHECK(check_str("{\"text\":\"}{][\"}") == JSONLINE_OK);
    CHECK(check_str("{\"a\":\"{\",\"b\":\"[[[\"}") == JSONLINE_OK);
    /* escaped quotes and backslashes */
    CHECK(check_str("{\"q\":\"say \\\"}\\\" now\"}") == JSONLINE_OK);
    CHECK(check_str("{\"path\":\"C:\\\\dir\\\\\"}") == JSONLINE_OK);
    CHECK(check_str("{\"u\":\"\\u00e9\\n\\t\"}") == JSONLINE_OK);
    /* UTF-8 passes through */
    CHECK(check_str("{\"name\":\"caf\xc3\xa9\"}") == JSONLINE_OK);
}

static void test_not_objects(void)
{
    CHECK(check_str("[1,2,3]") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("[{\"a\":1}]") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("\"just a string\"") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("42") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("null") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("hello world") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("{") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("}") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("{\"a\":1} x") == JSONLINE_NOT_OBJECT);
}

static void test_unbalanced(void)
{
    CHECK(check_str("{{}") == JSONLINE_UNBALANCED);
    CHECK(check_str("{\"a\":[1,2}") == JSONLINE_UNBALANCED);
    CHECK(check_str("{\"a\":{\"b\":1}") == JSONLINE_UNBALANCED);
    CHECK(check_str("{]}") == JSONLINE_UNBALANCED);
    CHECK(check_str("{\"a\":[}") == JSONLINE_UNBALANCED);
    /* a brace that only looks closed because the string ate it */
    CHECK(check_str("{\"a\":\"}\"") == JSONLINE_NOT_OBJECT);
    CHECK(check_str("{\"a\":\"x}") == JSONLINE_BAD_STRING);
    /* an escaped quote does not close the string */
    CHECK(check_str("{\"a\":\"\\\"}") == JSONLINE_BAD_STRING);
}

static void test_trailing(void)
{
    CHECK(check_str("{}{}") == JSONLINE_TRAILING);
    CHECK(check_str("{\"a\":1},{\"b\":2}") == JSONLINE_TRAILING);
    CHECK(check_str("{} }") == JSONLINE_TRAILING);
}

static void test_strings_and_bytes(void)
{
    static const char nul[] = "{\"a\":\"x\0y\"}";

    CHECK(check_str("{\"a\":\"tab\there\"}") == JSONLINE_BAD_STRING);
    CHECK(check_str("{\"a\":\"x\\") == JSONLINE_NOT_OBJECT);
    CHECK(jsonline_check(nul, sizeof nul - 1) == JSONLINE_NUL);
    CHECK(check_str("") == JSONLINE_EMPTY);
    CHECK(check_str("   \t ") == JSONLINE_EMPTY);
}

static void test_limits(void)
{
    size_t n = JSONLINE_MAX + 1, i;
    char *big = malloc(n);
    char deep[2 * JSONLINE_MAX_DEPTH + 8];
    size_t d = 0;

    REQUIRE(big != NULL);
    memset(big, ' ', n);
    big[0] = '{';
    big[JSONLINE_MAX - 1] = '}';
    CHECK(jsonline_check(big, JSONLINE_MAX) == JSONLINE_OK);
    big[JSONLINE_MAX] = '}';
    CHECK(jsonline_check(big, n) == JSONLINE_TOO_LONG);
    free(big);

    /* JSONLINE_MAX_DEPTH levels are fine, one more is not */
    for (i = 0; i < JSONLINE_MAX_DEPTH; i++)
        deep[d++] = i == 0 ? '{' : '[';
    for (i = JSONLINE_MAX_DEPTH; i-- > 0;)
        deep[d++] = i == 0 ? '}' : ']';
    CHECK(jsonline_check(deep, d) == JSONLINE_OK);
    d = 0;
    for (i = 0; i <= JSONLINE_MAX_DEPTH; i++)
        deep[d++] = i == 0 ? '{' : '[';
    for (i = JSONLINE_MAX_DEPTH + 1; i-- > 0;)
        deep[d++] = i == 0 ? '}' : ']';
    CHECK(jsonline_check(deep, d) == JSONLINE_TOO_DEEP);
}

static void test_strip(void)
{
    CHECK_U64(jsonline_strip_eol("{}\r\n", 4), 2);
    CHECK_U64(jsonline_strip_eol("{}\n", 3), 2);
    CHECK_U64(jsonline_strip_eol("{}\r", 3), 2);
    CHECK_U64(jsonline_strip_eol("{}", 2), 2);
    CHECK_U64(jsonline_strip_eol("\r\n", 2), 0);
    CHECK(strcmp(jsonline_status_str(JSONLINE_NOT_OBJECT), "") != 0);
}

int main(void)
{
    test_good();
    test_not_objects();
    test_unbalanced();
    test_trailing();
    test_strings_and_bytes();
    test_limits();
    test_strip();
    return check_report("test_jsonline");
}
