// The floor under tcp-w1: what the kernel alone costs for the four loopback TCP messages of one
// sequential commit in a three-node cluster (the leader's append to each follower, each
// follower's answer), with no Raft, no codec and no event-loop library, in C.
//
//   LoopbackFloor [--rounds 50000]
//
// Two layouts, both on 127.0.0.1 with TCP_NODELAY and frames of the sizes WebRaftNIO sends for a
// 16-byte command (42-byte append, 21-byte answer):
// - one thread: every socket on one epoll loop, as tcp-w1 runs with one event loop;
// - two threads: the leader's sockets on one thread, both followers' on another, the leader
//   waiting for the first answer of each round (a commit needs one of two), as with two loops.
// A round's time is the least a commit can take in that layout; 1e6 / µs is the most commits per
// second any implementation could reach with it on this machine.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { appendSize = 42, answerSize = 21 };

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static double seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/// A connected loopback TCP pair: [0] the dialing end (leader), [1] the accepted end (follower).
static void connectedPair(int ends[2]) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) fail("socket");
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) fail("bind");
  if (listen(listener, 1) != 0) fail("listen");
  if (getsockname(listener, (struct sockaddr *)&address, &length) != 0) fail("getsockname");
  int dialed = socket(AF_INET, SOCK_STREAM, 0);
  if (dialed < 0) fail("socket");
  if (connect(dialed, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
  int accepted = accept(listener, NULL, NULL);
  if (accepted < 0) fail("accept");
  int on = 1;
  setsockopt(dialed, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  setsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  close(listener);
  ends[0] = dialed;
  ends[1] = accepted;
}

static void watch(int poll, int fd) {
  struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
  if (epoll_ctl(poll, EPOLL_CTL_ADD, fd, &event) != 0) fail("epoll_ctl");
}

static void sendAll(int fd, const char *bytes, size_t count) {
  while (count > 0) {
    ssize_t written = write(fd, bytes, count);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    bytes += written;
    count -= (size_t)written;
  }
}

/// Reads what is there; returns how many whole messages of `size` bytes that completes, keeping
/// the remainder count in `*partial`.
static long readMessages(int fd, size_t size, size_t *partial) {
  char buffer[4096];
  ssize_t got = read(fd, buffer, sizeof buffer);
  if (got < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    fail("read");
  }
  if (got == 0) {
    fprintf(stderr, "a connection closed early\n");
    exit(1);
  }
  size_t total = *partial + (size_t)got;
  *partial = total % size;
  return (long)(total / size);
}

static char appendBytes[appendSize];
static char answerBytes[answerSize];
static int followerOf[2][2];
static long roundCount = 50000;

static double oneThread(void) {
  connectedPair(followerOf[0]);
  connectedPair(followerOf[1]);
  int poll = epoll_create1(0);
  for (int f = 0; f < 2; f++) {
    watch(poll, followerOf[f][0]);
    watch(poll, followerOf[f][1]);
  }
  size_t partial[2][2] = {{0, 0}, {0, 0}};
  long answers[2] = {0, 0};
  double start = seconds();
  for (long round = 0; round < roundCount; round++) {
    sendAll(followerOf[0][0], appendBytes, appendSize);
    sendAll(followerOf[1][0], appendBytes, appendSize);
    // The round ends when both answers are in: on one thread the second follower's work is on
    // the commit's path anyway.
    while (answers[0] <= round || answers[1] <= round) {
      struct epoll_event events[8];
      int ready = epoll_wait(poll, events, 8, -1);
      for (int e = 0; e < ready; e++) {
        int fd = events[e].data.fd;
        for (int f = 0; f < 2; f++) {
          if (fd == followerOf[f][1]) {
            long appends = readMessages(fd, appendSize, &partial[f][1]);
            for (long a = 0; a < appends; a++) sendAll(fd, answerBytes, answerSize);
          } else if (fd == followerOf[f][0]) {
            answers[f] += readMessages(fd, answerSize, &partial[f][0]);
          }
        }
      }
    }
  }
  double elapsed = seconds() - start;
  close(poll);
  for (int f = 0; f < 2; f++) {
    close(followerOf[f][0]);
    close(followerOf[f][1]);
  }
  return elapsed;
}

static void *runFollowers(void *unused) {
  (void)unused;
  int poll = epoll_create1(0);
  watch(poll, followerOf[0][1]);
  watch(poll, followerOf[1][1]);
  size_t partial[2] = {0, 0};
  long served[2] = {0, 0};
  while (served[0] < roundCount || served[1] < roundCount) {
    struct epoll_event events[8];
    int ready = epoll_wait(poll, events, 8, -1);
    for (int e = 0; e < ready; e++) {
      int f = events[e].data.fd == followerOf[0][1] ? 0 : 1;
      long appends = readMessages(followerOf[f][1], appendSize, &partial[f]);
      for (long a = 0; a < appends; a++) sendAll(followerOf[f][1], answerBytes, answerSize);
      served[f] += appends;
    }
  }
  close(poll);
  return NULL;
}

static double twoThreads(void) {
  connectedPair(followerOf[0]);
  connectedPair(followerOf[1]);
  pthread_t followers;
  if (pthread_create(&followers, NULL, runFollowers, NULL) != 0) fail("pthread_create");
  int poll = epoll_create1(0);
  watch(poll, followerOf[0][0]);
  watch(poll, followerOf[1][0]);
  size_t partial[2] = {0, 0};
  long answers[2] = {0, 0};
  double start = seconds();
  for (long round = 0; round < roundCount; round++) {
    sendAll(followerOf[0][0], appendBytes, appendSize);
    sendAll(followerOf[1][0], appendBytes, appendSize);
    // A commit needs one follower's answer; the other's is read when it comes.
    while (answers[0] <= round && answers[1] <= round) {
      struct epoll_event events[8];
      int ready = epoll_wait(poll, events, 8, -1);
      for (int e = 0; e < ready; e++) {
        int f = events[e].data.fd == followerOf[0][0] ? 0 : 1;
        answers[f] += readMessages(followerOf[f][0], answerSize, &partial[f]);
      }
    }
  }
  double elapsed = seconds() - start;
  // Let the followers finish their last round before closing.
  while (answers[0] < roundCount || answers[1] < roundCount) {
    struct epoll_event events[8];
    int ready = epoll_wait(poll, events, 8, -1);
    for (int e = 0; e < ready; e++) {
      int f = events[e].data.fd == followerOf[0][0] ? 0 : 1;
      answers[f] += readMessages(followerOf[f][0], answerSize, &partial[f]);
    }
  }
  pthread_join(followers, NULL);
  close(poll);
  for (int f = 0; f < 2; f++) {
    close(followerOf[f][0]);
    close(followerOf[f][1]);
  }
  return elapsed;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--rounds") == 0) roundCount = atol(argv[i + 1]);
  }
  if (roundCount <= 0) {
    fprintf(stderr, "--rounds must be positive\n");
    return 2;
  }
  memset(appendBytes, 7, sizeof appendBytes);
  memset(answerBytes, 1, sizeof answerBytes);
  double one = oneThread();
  printf(
    "loopback-floor one-thread: %ld rounds  %.1f us per round  %.0f rounds/s (4 messages per round)\n",
    roundCount, one / (double)roundCount * 1e6, (double)roundCount / one);
  double two = twoThreads();
  printf(
    "loopback-floor two-threads: %ld rounds  %.1f us per round  %.0f rounds/s (leader waits for the first answer)\n",
    roundCount, two / (double)roundCount * 1e6, (double)roundCount / two);
  return 0;
}
