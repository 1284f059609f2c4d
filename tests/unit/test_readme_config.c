/* tests/unit/test_readme_config.c — the README's configuration reference is the table's output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

START_TEST(readme_matches_table) {
    char *readme = evf_test_read_file("README.md", NULL);
    ck_assert_msg(readme != NULL, "README.md not found (run from the repository root)");
    const char *begin = "<!-- BEGIN CONFIG REFERENCE -->\n", *end = "<!-- END CONFIG REFERENCE -->";
    char *b = strstr(readme, begin), *e = strstr(readme, end);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(e);
    b += strlen(begin);
    *e = '\0';

    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    evf_conf_print_markdown(f);
    fclose(f);
    ck_assert_msg(strcmp(b, gen) == 0,
                  "README configuration reference is out of date: run `make readme-config`");
    free(gen);
    free(readme);
}
END_TEST

int main(void) {
    Suite *s = suite_create("readme_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, readme_matches_table);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
