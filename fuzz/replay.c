/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz/replay.c - run a libFuzzer target over files, without libFuzzer.
 *
 * Linked with one fuzz_<target>.c, it calls LLVMFuzzerTestOneInput() on
 * every file named on the command line or found (non-recursively) in a
 * directory named there, so corpora are replayed by CTest under gcc and
 * under the sanitizer build. Prints "N passed, 0 failed"; a crash fails the
 * test by itself.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	unsigned char *buf;
	struct stat st;
	size_t n;
	FILE *fp;

	fp = fopen(path, "rb");
	if (!fp || fstat(fileno(fp), &st) == -1) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		if (fp)
			fclose(fp);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, fp);
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned passed = 0, failed = 0;
	struct dirent *de;
	struct stat st;
	char path[4096];
	int i;

	for (i = 1; i < argc; i++) {
		DIR *d;

		if (stat(argv[i], &st) == -1 || !S_ISDIR(st.st_mode)) {
			run_file(argv[i]) == 0 ? passed++ : failed++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			failed++;
			continue;
		}
		while ((de = readdir(d))) {
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				run_file(path) == 0 ? passed++ : failed++;
		}
		closedir(d);
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed || passed == 0 ? 1 : 0;
}
