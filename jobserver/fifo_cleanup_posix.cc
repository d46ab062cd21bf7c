#include "fifo_cleanup_posix.h"

#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace jobserver::internal {
namespace {

constexpr int kMaxFifos = 16;

struct Entry {
  std::atomic<bool> in_use{false};
  char fifo[PATH_MAX];
  char dir[PATH_MAX];
};

Entry g_entries[kMaxFifos];
std::mutex g_install_mutex;
bool g_installed = false;

void RemoveRegisteredFifos(int signal_number) {
  for (Entry& entry : g_entries) {
    if (!entry.in_use.load()) continue;
    unlink(entry.fifo);
    rmdir(entry.dir);
  }
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

void InstallIfDefault(int signal_number) {
  struct sigaction current;
  if (sigaction(signal_number, nullptr, &current) != 0) return;
  if (current.sa_handler != SIG_DFL || (current.sa_flags & SA_SIGINFO)) return;
  struct sigaction action = {};
  action.sa_handler = RemoveRegisteredFifos;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(signal_number, &action, nullptr);
}

}  // namespace

int RegisterFifoForCleanup(const char* fifo_path, const char* dir_path) {
  if (strlen(fifo_path) >= PATH_MAX || strlen(dir_path) >= PATH_MAX) return -1;
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (!g_installed) {
    InstallIfDefault(SIGINT);
    InstallIfDefault(SIGTERM);
    g_installed = true;
  }
  for (int slot = 0; slot < kMaxFifos; ++slot) {
    Entry& entry = g_entries[slot];
    if (entry.in_use.load()) continue;
    strcpy(entry.fifo, fifo_path);
    strcpy(entry.dir, dir_path);
    entry.in_use.store(true);
    return slot;
  }
  return -1;
}

void UnregisterFifoForCleanup(int slot) {
  if (slot < 0 || slot >= kMaxFifos) return;
  std::lock_guard<std::mutex> lock(g_install_mutex);
  g_entries[slot].in_use.store(false);
}

}  // namespace jobserver::internal
