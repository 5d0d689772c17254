/* fuzz_replay_<target> FILE...: feeds each file through the target's entry
 * point once (gcc build, part of `make test`): the seed corpora and every
 * crasher ever found stay regression tests. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		static uint8_t buf[1 << 20];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		n++;
	}
	printf("%d passed, 0 failed\n", n);
	return 0;
}
