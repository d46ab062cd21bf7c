#include "src/attempt_launcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>

#include "src/event_log.h"

namespace tierun {

using jobserver::Result;
using jobserver::UniqueFd;

Result<std::unique_ptr<AttemptLauncher>> AttemptLauncher::Create(StartFunction start) {
  UniqueFd ready(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ready) return jobserver::SystemError("eventfd");
  std::unique_ptr<AttemptLauncher> launcher(
      new AttemptLauncher(std::move(ready), std::move(start)));
  try {
    launcher->thread_ = std::thread([raw = launcher.get()] { raw->Loop(); });
  } catch (const std::system_error& error) {
    return jobserver::Error{jobserver::ErrorKind::kSystem,
                            std::string("cannot start the launcher thread: ") + error.what()};
  }
  return launcher;
}

AttemptLauncher::AttemptLauncher(UniqueFd ready, StartFunction start)
    : ready_(std::move(ready)), start_(std::move(start)) {}

AttemptLauncher::~AttemptLauncher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  requested_.notify_one();
  if (thread_.joinable()) thread_.join();
}

uint64_t AttemptLauncher::Submit(AttemptSpec spec) {
  const uint64_t ticket = next_ticket_++;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.emplace_back(ticket, std::move(spec));
  }
  requested_.notify_one();
  return ticket;
}

std::vector<AttemptLauncher::Started> AttemptLauncher::TakeStarted() {
  uint64_t count = 0;
  // Drained first: a start that lands after this read adds to the counter
  // again, so the fd stays readable for it.
  (void)!read(ready_.get(), &count, sizeof count);
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(started_, {});
}

std::vector<uint64_t> AttemptLauncher::Withdraw() {
  std::vector<uint64_t> tickets;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& request : requests_) tickets.push_back(request.first);
  requests_.clear();
  return tickets;
}

void AttemptLauncher::Loop() {
  while (true) {
    std::pair<uint64_t, AttemptSpec> request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      requested_.wait(lock, [&] { return stopping_ || !requests_.empty(); });
      if (stopping_) return;
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    const Clock::time_point now = Clock::now();
    std::string now_utc = UtcNow();
    Started started{request.first, start_(request.second), now, std::move(now_utc)};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      started_.push_back(std::move(started));
    }
    const uint64_t one = 1;
    (void)!write(ready_.get(), &one, sizeof one);
  }
}

}  // namespace tierun
