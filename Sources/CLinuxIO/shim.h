// Linux I/O calls that Swift's Glibc module does not import (they need _GNU_SOURCE).
#include <sys/types.h>
#include <sys/uio.h>

extern ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);

/// Reads like pread, but only what is already in the page cache: -1 with errno EAGAIN when the
/// read would have to wait for the disk (RWF_NOWAIT, Linux 4.14). Never blocks on the device.
static inline ssize_t sos_pread_if_cached(int fd, void *buffer, size_t count, off_t offset) {
    struct iovec vector = { buffer, count };
    return preadv2(fd, &vector, 1, offset, 0x00000008 /* RWF_NOWAIT */);
}
