// A child process for the jobserver tests: it joins or creates a pool the way
// a real tool would and reports what happened on stdout, one line per event,
// so that the test can synchronise on its output instead of sleeping.
//
//   jobserver_test_child take N
//       Client::FromEnvironment() (no implicit slot), acquires N tokens,
//       prints "took <hex bytes> via <variable>", returns them, exits 0.
//       On failure prints "error <kind>: <message>" and exits 2.
//   jobserver_test_child hold
//       Like "take 1", prints "holding <hex byte>", then waits to be killed.
//   jobserver_test_child serve-and-raise TERM|INT TMPDIR
//       Creates a FIFO Server under TMPDIR, prints its FIFO path, then raises
//       the signal (with the default disposition, as a plain tool has it).

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "jobserver/client.h"
#include "jobserver/error.h"
#include "jobserver/server.h"

namespace {

using jobserver::Client;
using jobserver::Error;

int ReportError(const Error& error) {
  printf("error %s: %s\n", jobserver::ErrorKindName(error.kind), error.message.c_str());
  fflush(stdout);
  return 2;
}

int Take(int count, bool hold) {
  jobserver::ClientOptions options;
  options.use_implicit_slot = false;
  jobserver::Result<Client> client = Client::FromEnvironment(options);
  if (!client) return ReportError(client.error());
  std::vector<jobserver::Token> tokens;
  std::string hex;
  for (int i = 0; i < count; ++i) {
    auto token = client->Acquire(Client::Clock::now() + std::chrono::seconds(30));
    if (!token) return ReportError(token.error());
    char byte[4];
    snprintf(byte, sizeof byte, "%02x", token->byte());
    hex += byte;
    tokens.push_back(std::move(*token));
  }
  if (hold) {
    printf("holding %s\n", hex.c_str());
    fflush(stdout);
    while (true) pause();  // Until the test kills us.
  }
  printf("took %s via %s\n", hex.c_str(), client->auth().variable.c_str());
  fflush(stdout);
  return 0;
}

int ServeAndRaise(const char* signal_name, const char* tmpdir) {
  const int signal_number = strcmp(signal_name, "INT") == 0 ? SIGINT : SIGTERM;
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  jobserver::ServerOptions options;
  options.slots = 3;
  options.style = jobserver::ServerStyle::kFifo;
  options.tmpdir = tmpdir;
  auto server = jobserver::Server::Create(options);
  if (!server) return ReportError(server.error());
  printf("%s\n", server->auth().fifo_path.c_str());
  fflush(stdout);
  raise(signal_number);
  return 1;  // Still alive: the signal did not kill us.
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "take" && argc == 3) return Take(atoi(argv[2]), false);
  if (command == "hold" && argc == 2) return Take(1, true);
  if (command == "serve-and-raise" && argc == 4) return ServeAndRaise(argv[2], argv[3]);
  fprintf(stderr, "usage: %s take N | hold | serve-and-raise TERM|INT TMPDIR\n", argv[0]);
  return 64;
}
