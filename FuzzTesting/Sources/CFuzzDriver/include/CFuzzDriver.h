// libFuzzer's entry for programs that have their own main (compiler-rt FuzzerInterface.h).
// SwiftPM links executables with `main` defined as `<target>_main` (for testable
// executables), so libFuzzer's own main is never used: each target's `<target>_main`
// hands over to libFuzzer here instead.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
