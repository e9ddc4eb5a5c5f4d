/*
 * Corpus replay for the fuzz targets in ordinary builds (gcc, the
 * sanitizer test build): runs LLVMFuzzerTestOneInput once on every file
 * named on the command line or found (non-recursively, in name order) in a
 * directory named there, the way a libFuzzer binary does with
 * -runs=0. A crash or sanitizer report fails the test; so does an
 * empty corpus (a replay of nothing proves nothing).
 *
 * With QF_FUZZ (clang, -fsanitize=fuzzer) this file is not linked:
 * libFuzzer brings its own main.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Largest input replayed: libFuzzer's default -max_len is far below it. */
#define REPLAY_MAX_BYTES (16L * 1024 * 1024)

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(REPLAY_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -1;
	}
	size_t n = fread(buf, 1, REPLAY_MAX_BYTES + 1, f);
	fclose(f);
	if (n > REPLAY_MAX_BYTES) {
		fprintf(stderr, "replay: %s is larger than %ld bytes\n", path, REPLAY_MAX_BYTES);
		free(buf);
		return -1;
	}
	/* An exact-size copy, so that ASan sees reads past the input's end. */
	uint8_t *in = malloc(n ? n : 1);
	if (!in) {
		free(buf);
		return -1;
	}
	memcpy(in, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(in, n);
	free(in);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, long *count)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0; /* no regressions yet */
		fprintf(stderr, "replay: cannot open %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				rc = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	long count = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				rc = 1;
		} else if (stat(argv[i], &st) == 0) {
			if (replay_file(argv[i]) < 0)
				rc = 1;
			else
				count++;
		}
	}
	printf("replayed %ld inputs\n", count);
	if (count == 0) {
		fprintf(stderr, "replay: no inputs (an empty corpus tests nothing)\n");
		return 1;
	}
	return rc;
}
