/* The container benchmark's baseline (cargo bench --bench fitness): a trivial static program
 * that answers every HTTP request on PORT with 200 at once, built into an image by the same
 * Dockerfile runtime stage as the functions. `podman run` → first answer of this image is the
 * cost of the container itself; a function's figure minus this one is the app's own share. */
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(void) {
  const char *port = getenv("PORT");
  struct sockaddr_in addr = {0};
  int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  char buf[1024];

  signal(SIGTERM, stop); /* PID 1 ignores SIGTERM without a handler */
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port ? atoi(port) : 8080);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 16) < 0) return 1;
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (read(c, buf, sizeof buf) > 0 && write(c, reply, sizeof reply - 1) < 0) { /* client gone */ }
    close(c);
  }
}
