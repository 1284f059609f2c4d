/* tests/unit/test_fuzz_regressions.c — replays, without clang, what the fuzzers check: every
 * file of tests/regress/<target>/ (inputs that once crashed a fuzz target or broke one of its
 * properties) and every seed of tests/fuzz/corpus/<target>/ goes through the same entry function
 * as the libFuzzer build (tests/fuzz/fuzz_<target>.c, included here so `make test` builds them
 * with the project's compiler and flags, and the sanitizer build replays them under ASan+UBSan).
 * One forked check iteration per file: a crash or failed property names the file on stderr and
 * fails that iteration alone. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "../fuzz/fuzz_common.c"
#include "../fuzz/fuzz_aws_import.c"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_dlq_headers.c"
#include "../fuzz/fuzz_event_decode.c"
#include "../fuzz/fuzz_event_json.c"
#include "../fuzz/fuzz_redis_url.c"

typedef struct {
    const char *name;     /* tests/regress/<name>/ */
    const char *seed_dir; /* tests/fuzz/corpus/<seed_dir>/ */
    void (*entry)(const uint8_t *data, size_t size);
} replay_target_t;

static const replay_target_t replay_targets[] = {
    {"event_decode", "event", evf_fuzz_event_decode},
    {"event_json", "event_json", evf_fuzz_event_json},
    {"aws_import", "aws_import", evf_fuzz_aws_import},
    {"config", "config", evf_fuzz_config},
    {"redis_url", "redis_url", evf_fuzz_redis_url},
    {"dlq_headers", "dlq_headers", evf_fuzz_dlq_headers},
};
#define N_TARGETS (sizeof replay_targets / sizeof replay_targets[0])

typedef struct {
    const replay_target_t *target;
    char path[PATH_MAX];
} replay_file_t;

static replay_file_t *replay_files;
static size_t replay_count, replay_regress_count;
static char source_root[PATH_MAX];

/* The source tree: the working directory when run by tests/run.sh, else 5 levels above
 * build/<variant>/tests/unit/<this program>. */
static void find_source_root(void) {
    char exe[PATH_MAX];
    if (access("tests/fuzz/corpus", F_OK) == 0) {
        snprintf(source_root, sizeof source_root, ".");
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    for (int up = 0; up < 5; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash)
            return;
        *slash = '\0';
    }
    snprintf(source_root, sizeof source_root, "%s", exe);
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const replay_file_t *)a)->path, ((const replay_file_t *)b)->path);
}

/* Add every regular file of dir (sorted) for target. @returns how many. */
static size_t collect(const replay_target_t *target, const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t first = replay_count;
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strcmp(de->d_name, "README.md"))
            continue;
        replay_files = realloc(replay_files, (replay_count + 1) * sizeof *replay_files);
        if (!replay_files)
            abort();
        replay_files[replay_count].target = target;
        snprintf(replay_files[replay_count].path, sizeof replay_files[replay_count].path, "%s/%s",
                 dir, de->d_name);
        replay_count++;
    }
    closedir(d);
    qsort(replay_files + first, replay_count - first, sizeof *replay_files, name_cmp);
    return replay_count - first;
}

static uint8_t *read_input(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

START_TEST(test_directories_found) {
    ck_assert_msg(source_root[0], "source tree not found (run from the repository root)");
    for (size_t i = 0; i < N_TARGETS; i++) {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", source_root,
                 replay_targets[i].seed_dir);
        ck_assert_msg(access(dir, R_OK) == 0, "seed corpus %s missing", dir);
    }
}
END_TEST

START_TEST(test_replay) {
    const replay_file_t *rf = &replay_files[_i];
    size_t len;
    uint8_t *data = read_input(rf->path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", rf->path);
    /* Named before it runs: an abort or a sanitizer report follows this line in the log. */
    fprintf(stderr, "replaying %s (%zu bytes) through evf_fuzz_%s\n", rf->path, len,
            rf->target->name);
    rf->target->entry(data, len);
    free(data);
}
END_TEST

static Suite *fuzz_regressions_suite(void) {
    Suite *s = suite_create("fuzz_regressions");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    find_source_root();
    for (size_t i = 0; i < N_TARGETS; i++) {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/tests/regress/%s", source_root, replay_targets[i].name);
        replay_regress_count += collect(&replay_targets[i], dir);
    }
    for (size_t i = 0; i < N_TARGETS; i++) {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", source_root,
                 replay_targets[i].seed_dir);
        collect(&replay_targets[i], dir);
    }
    fprintf(stderr, "fuzz regressions: %zu regression inputs, %zu seeds\n", replay_regress_count,
            replay_count - replay_regress_count);
    tcase_add_test(tc, test_directories_found);
    tcase_add_loop_test(tc, test_replay, 0, (int)replay_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(fuzz_regressions_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(replay_files);
    return failed ? 1 : 0;
}
