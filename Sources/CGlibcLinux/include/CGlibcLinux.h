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
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
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
#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif
#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 0x02
#endif

// prctl is variadic, which Swift cannot call.
static inline int cglibc_prctl_set_pdeathsig(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
static inline int cglibc_prctl_set_child_subreaper(void) {
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

// errno is a macro over a thread-local; a function reads it reliably.
static inline int cglibc_errno(void) { return errno; }

static inline const short cglibc_spawn_setsid(void) { return POSIX_SPAWN_SETSID; }

// ioctl is variadic too.
static inline int cglibc_ioctl_get_winsize(int fd, struct winsize *size) {
  return ioctl(fd, TIOCGWINSZ, size);
}
static inline int cglibc_ioctl_set_winsize(int fd, const struct winsize *size) {
  return ioctl(fd, TIOCSWINSZ, size);
}

// fcntl is variadic.
static inline int cglibc_fcntl_getfd(int fd) { return fcntl(fd, F_GETFD); }
static inline int cglibc_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
static inline int cglibc_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int cglibc_fcntl_setpipe_sz(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
static inline int cglibc_fcntl_getpipe_sz(int fd) { return fcntl(fd, F_GETPIPE_SZ); }

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

static inline int cglibc_bind_inet(int fd, const struct sockaddr_in *address) {
  return bind(fd, (const struct sockaddr *)address, sizeof(*address));
}
static inline int cglibc_bind_inet6(int fd, const struct sockaddr_in6 *address) {
  return bind(fd, (const struct sockaddr *)address, sizeof(*address));
}
static inline int cglibc_connect_inet(int fd, const struct sockaddr_in *address) {
  return connect(fd, (const struct sockaddr *)address, sizeof(*address));
}

#ifndef SCM_CREDENTIALS
#define SCM_CREDENTIALS 0x02
#endif

// A message of one buffer with room for control data (recvmsg and sendmsg take a struct).
static inline struct msghdr cglibc_message(struct iovec *vector, void *control, unsigned long controlLength) {
  struct msghdr message;
  memset(&message, 0, sizeof(message));
  message.msg_iov = vector;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = controlLength;
  return message;
}

// One datagram with the sender's pid (SO_PASSCRED must be on), for sd_notify messages.
// Descriptors passed along (SCM_RIGHTS, FDSTORE=1) are closed: forge does not keep them.
static inline long cglibc_recv_with_pid(int fd, void *buffer, unsigned long length, int *pid) {
  struct iovec vector = {buffer, length};
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * 3) + CMSG_SPACE(sizeof(int) * 16)];
  } control;
  struct msghdr message = cglibc_message(&vector, control.space, sizeof(control.space));
  long n = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
  *pid = 0;
  if (n < 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) {
      int credentials[3];  // struct ucred: pid, uid, gid
      memcpy(credentials, CMSG_DATA(c), sizeof(credentials));
      *pid = credentials[0];
    } else if (c->cmsg_type == SCM_RIGHTS) {
      int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < count; i++) {
        int received;
        memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        close(received);
      }
    }
  }
  return n;
}

// The process environment; Swift 6 refuses the global `environ` as shared mutable state.
extern char **environ;
static inline char **cglibc_environ(void) { return environ; }

// An address inside the code of the binary that includes this header (forge's own text
// mapping), for CodePages.
static inline const void *cglibc_code_address(void) { return (const void *)&cglibc_code_address; }

// Lowers this process's own scheduling priority (raises its nice value by `increment`).
#include <sys/resource.h>
static inline int cglibc_lower_own_priority(int increment) {
  errno = 0;
  int current = getpriority(PRIO_PROCESS, 0);
  if (current == -1 && errno != 0) return -1;
  int wanted = current + increment > 19 ? 19 : current + increment;
  return setpriority(PRIO_PROCESS, 0, wanted);
}

// `forge logs -f` over a pipe (Control/SplicedStream): the reply carries the pipe's read end.
static inline long cglibc_send_with_descriptor(int fd, const void *buffer, unsigned long length, int passed) {
  struct iovec vector = {(void *)buffer, length};
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr message = cglibc_message(&vector, control.space, sizeof(control.space));
  struct cmsghdr *c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &passed, sizeof(int));
  return sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// A read that also takes a descriptor passed with the bytes (close-on-exec) into *passed if
// it is -1; any other descriptor that came is closed.
static inline long cglibc_receive_with_descriptor(int fd, void *buffer, unsigned long length, int *passed) {
  struct iovec vector = {buffer, length};
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * 4)];
  } control;
  struct msghdr message = cglibc_message(&vector, control.space, sizeof(control.space));
  long n = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; i++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (*passed == -1) *passed = received; else close(received);
    }
  }
  return n;
}

// Hands up to two ranges of this process's memory to a pipe by reference (vmsplice: no
// copy), without blocking.
static inline long cglibc_vmsplice(int fd, const void *first, unsigned long firstLength, const void *second,
                                   unsigned long secondLength) {
  struct iovec vectors[2] = {{(void *)first, firstLength}, {(void *)second, secondLength}};
  // Through syscall(2): glibc declares vmsplice only under _GNU_SOURCE (see above).
  return syscall(SYS_vmsplice, fd, vectors, (unsigned long)(secondLength > 0 ? 2 : 1), (unsigned int)SPLICE_F_NONBLOCK);
}

// Bytes written to a pipe and not yet read (FIONREAD works on either end).
static inline int cglibc_unread_bytes(int fd) {
  int count = 0;
  return ioctl(fd, FIONREAD, &count) < 0 ? -1 : count;
}

#endif
