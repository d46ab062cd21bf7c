/* spawn_ref: the reference of bench/compare.py -- the least any runner can
 * do. It keeps at most N children running with posix_spawn + waitpid until
 * COUNT have run, and does nothing else: no pool, no logs, no reports.
 *
 *   spawn_ref N COUNT CMD [ARG...]      ("{i}" in an ARG becomes 0..COUNT-1)
 *
 * Exit status: 0 when every child exited 0, 1 otherwise, 2 for usage. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char** environ;

/* argv for child `index`: "{i}" replaced (a copy only where it occurs). */
static char** ChildArgv(char** argv, int argc, long index, char** scratch) {
  for (int a = 0; a < argc; ++a) {
    const char* at = strstr(argv[a], "{i}");
    if (at == NULL) {
      scratch[a] = argv[a];
      continue;
    }
    size_t size = strlen(argv[a]) + 24;
    char* text = malloc(size);
    snprintf(text, size, "%.*s%ld%s", (int)(at - argv[a]), argv[a], index, at + 3);
    scratch[a] = text;
  }
  scratch[argc] = NULL;
  return scratch;
}

static void FreeArgv(char** argv, int argc, char** scratch) {
  for (int a = 0; a < argc; ++a) {
    if (scratch[a] != argv[a]) free(scratch[a]);
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: spawn_ref N COUNT CMD [ARG...]\n");
    return 2;
  }
  const long jobs = atol(argv[1]);
  const long count = atol(argv[2]);
  if (jobs < 1 || count < 0) {
    fprintf(stderr, "spawn_ref: N must be >= 1 and COUNT >= 0\n");
    return 2;
  }
  char** command = argv + 3;
  const int command_argc = argc - 3;
  char** scratch = calloc((size_t)command_argc + 1, sizeof(char*));
  long started = 0;
  long running = 0;
  int failed = 0;
  while (started < count || running > 0) {
    while (started < count && running < jobs) {
      pid_t pid;
      char** child_argv = ChildArgv(command, command_argc, started, scratch);
      const int error = posix_spawnp(&pid, command[0], NULL, NULL, child_argv, environ);
      FreeArgv(command, command_argc, scratch);
      if (error != 0) {
        fprintf(stderr, "spawn_ref: cannot run %s: %s\n", command[0], strerror(error));
        return 1;
      }
      ++started;
      ++running;
    }
    int status;
    if (waitpid(-1, &status, 0) == -1) break;
    --running;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  free(scratch);
  return failed;
}
