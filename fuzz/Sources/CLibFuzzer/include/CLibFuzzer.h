#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point for programs that keep their own main: runs the fuzzing loop on the command line's
   options and corpus directories, calling `callback` for each input. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
