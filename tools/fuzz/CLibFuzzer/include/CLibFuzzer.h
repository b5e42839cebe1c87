// libFuzzer's driver, called from the fuzz targets' `main` when they are
// built with -sanitize=fuzzer (`make fuzz`). SwiftPM gives an executable its
// own entry point, so the targets cannot use libFuzzer's `main`; they hand
// their arguments to this function instead. Only referenced under FUZZING.
#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
