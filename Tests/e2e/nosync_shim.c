/* Validation shim for the power-cut harness (test_power_loss.py): preloaded into `sos` with
 * LD_PRELOAD, it turns durability off, so that the harness must find lost writes.
 *
 * SOS_NOSYNC=all:  fsync, fdatasync, syncfs and sync_file_range return success without syncing.
 * SOS_NOSYNC=dirs: only fsync of a directory does (new files, renames and removals stay volatile).
 * Anything else:   every call goes to the C library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int skip(int fd) {
    const char *mode = getenv("SOS_NOSYNC");
    if (mode == NULL) return 0;
    if (strcmp(mode, "all") == 0) return 1;
    if (strcmp(mode, "dirs") == 0) {
        struct stat st;
        return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    }
    return 0;
}

int fsync(int fd) {
    static int (*real)(int);
    if (skip(fd)) return 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    const char *mode = getenv("SOS_NOSYNC");
    if (mode && strcmp(mode, "all") == 0) return 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}

int syncfs(int fd) {
    static int (*real)(int);
    if (skip(fd)) return 0;
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
    return real(fd);
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
    static int (*real)(int, off_t, off_t, unsigned int);
    if (skip(fd)) return 0;
    if (!real) real = (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
    return real(fd, offset, nbytes, flags);
}
