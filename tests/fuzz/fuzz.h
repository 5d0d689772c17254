/* One libFuzzer entry point per target. Built with clang -fsanitize=fuzzer
 * by `make fuzz`, and with gcc into fuzz_replay (run by `make test`), which
 * feeds every file of the seed corpora and found crashers back through the
 * same entry points as regression tests. */
#ifndef HOODY_FUZZ_H
#define HOODY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of at most max bytes; caller frees. */
char *fuzz_str(const uint8_t *data, size_t size, size_t max);

#endif
