// WriteFileAtomically()'s temporaries: one a killed writer left is removed
// by the next report rebuild; a live writer's, and other files, are not.
// AtomicFileWriter: a file written in pieces appears whole or not at all.

#include "src/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/support/scoped_temp_dir.h"

namespace tierun {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

/// A pid that has just ended (its child reaped): nobody runs under it now.
pid_t EndedPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(RemoveStaleTemporariesTest, RemovesOnlyThoseOfEndedWriters) {
  test::ScopedTempDir dir;
  auto temporary = [&](pid_t pid, int n) {
    return dir.path() + "/report.json.tmp." + std::to_string(pid) + "." + std::to_string(n);
  };
  const std::string stale = temporary(EndedPid(), 3);
  const std::string live = temporary(getppid(), 1);
  const std::string ours = temporary(getpid(), 2);
  const std::string others[] = {dir.path() + "/report.json", dir.path() + "/x.tmp.abc.1",
                                dir.path() + "/x.tmp.12"};
  for (const std::string& path : {stale, live, ours, others[0], others[1], others[2]}) {
    ASSERT_TRUE(WriteFileAtomically(path, "{}\n").ok()) << path;
  }
  RemoveStaleTemporaries(dir.path());
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(live));
  EXPECT_TRUE(Exists(ours));
  for (const std::string& path : others) EXPECT_TRUE(Exists(path)) << path;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

std::string Read(const std::string& path) {
  jobserver::Result<std::string> text = ReadWholeFile(path);
  return text.ok() ? *text : "(unreadable: " + text.error().message + ")";
}

TEST(AtomicFileWriterTest, PiecesSmallAndBigArriveInOrderAtCommit) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/junit.xml";
  ASSERT_TRUE(WriteFileAtomically(path, "old\n").ok());
  jobserver::Result<AtomicFileWriter> writer = AtomicFileWriter::Create(path);
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  // Small pieces past the buffer's size, and one bigger than it.
  std::string expected;
  for (int i = 0; i < 20000; ++i) {
    const std::string piece = std::to_string(i) + "\n";
    writer->Append(piece);
    expected += piece;
  }
  const std::string big(200000, 'x');
  writer->Append(big);
  expected += big;
  EXPECT_EQ(Read(path), "old\n") << "the file changed before the commit";
  ASSERT_TRUE(writer->Commit().ok());
  EXPECT_EQ(Read(path), expected);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"junit.xml"});
}

TEST(AtomicFileWriterTest, AWriterDroppedBeforeCommitLeavesTheOldFileAndNoTemporary) {
  test::ScopedTempDir dir;
  const std::string path = dir.path() + "/junit.xml";
  ASSERT_TRUE(WriteFileAtomically(path, "old\n").ok());
  {
    jobserver::Result<AtomicFileWriter> writer = AtomicFileWriter::Create(path);
    ASSERT_TRUE(writer.ok()) << writer.error().message;
    writer->Append(std::string(100000, 'y'));
  }
  EXPECT_EQ(Read(path), "old\n");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"junit.xml"});
}

}  // namespace
}  // namespace tierun
