// The Linux interfaces that Swift's Glibc module does not expose.
//
// Every target is built with -D_GNU_SOURCE (see Package.swift); defining it here
// instead breaks the Glibc module with fd_set conflicts.
#ifndef CGLIBC_LINUX_H
#define CGLIBC_LINUX_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

// SwiftPM's generated test-discovery target imports this module without the package's
// -D_GNU_SOURCE; these fallbacks (glibc's values) keep the header compiling there.
#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif
#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#endif

// prctl is variadic, which Swift cannot call.
static inline int cglibc_prctl_set_child_subreaper(void) {
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

// errno is a macro over a thread-local; a function reads it reliably.
static inline int cglibc_errno(void) { return errno; }

static inline const short cglibc_spawn_setsid(void) { return POSIX_SPAWN_SETSID; }

// ioctl is variadic too.
static inline int cglibc_ioctl_set_winsize(int fd, const struct winsize *size) {
  return ioctl(fd, TIOCSWINSZ, size);
}

// fcntl is variadic.
static inline int cglibc_fcntl_getfd(int fd) { return fcntl(fd, F_GETFD); }
static inline int cglibc_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
static inline int cglibc_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int cglibc_fcntl_setpipe_sz(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

// syscall is variadic; pidfd_open(2) has no glibc wrapper before 2.36.
#include <sys/syscall.h>
static inline int cglibc_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

// open is variadic.
static inline int cglibc_open(const char *path, int flags, mode_t mode) {
  return open(path, flags, mode);
}

// The sockaddr parameters of bind, connect and accept4 are transparent unions under
// _GNU_SOURCE, which Swift cannot build.
#include <sys/un.h>
static inline int cglibc_bind_unix(int fd, const struct sockaddr_un *address) {
  return bind(fd, (const struct sockaddr *)address, sizeof(*address));
}
static inline int cglibc_connect_unix(int fd, const struct sockaddr_un *address) {
  return connect(fd, (const struct sockaddr *)address, sizeof(*address));
}
static inline int cglibc_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

// The process environment; Swift 6 refuses the global `environ` as shared mutable state.
extern char **environ;
static inline char **cglibc_environ(void) { return environ; }

#endif
