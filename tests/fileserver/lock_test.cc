// The stand-in's locks in-process: the process-wide lock must prefer writers
// (the wedge depends on it) and the per-name exclusion must serialise one
// name while leaving other names alone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "fileserver/name_exclusion.h"
#include "fileserver/writer_preferring_lock.h"
#include "tests/support/process.h"

namespace fsr::fileserver {
namespace {

using std::chrono::milliseconds;
using fsr::test::wait_until;

TEST(WriterPreferringLockTest, WaitingWriterBlocksNewReaders) {
  WriterPreferringLock lock;
  lock.lock_shared();  // a reader holds the lock

  std::atomic<bool> writer_in{false}, late_reader_in{false};
  std::thread writer([&] {
    lock.lock();
    writer_in = true;
    std::this_thread::sleep_for(milliseconds(20));
    lock.unlock();
  });
  ASSERT_TRUE(wait_until([&] { return lock.waiting_writers() == 1; }, std::chrono::seconds(5)));

  std::thread late_reader([&] {
    lock.lock_shared();
    late_reader_in = true;
    lock.unlock_shared();
  });
  // The late reader must queue behind the waiting writer, although only
  // readers hold the lock.
  EXPECT_FALSE(wait_until([&] { return late_reader_in.load(); }, milliseconds(200)));
  EXPECT_FALSE(writer_in.load());

  lock.unlock_shared();
  writer.join();
  late_reader.join();
  EXPECT_TRUE(writer_in.load());
  EXPECT_TRUE(late_reader_in.load());
}

TEST(WriterPreferringLockTest, WriterExcludesReadersAndOtherWriters) {
  WriterPreferringLock lock;
  lock.lock();
  std::atomic<int> entered{0};
  std::thread reader([&] {
    std::shared_lock hold(lock);
    ++entered;
  });
  std::thread writer([&] {
    std::unique_lock hold(lock);
    ++entered;
  });
  EXPECT_FALSE(wait_until([&] { return entered.load() > 0; }, milliseconds(100)));
  lock.unlock();
  reader.join();
  writer.join();
  EXPECT_EQ(entered.load(), 2);
}

TEST(WriterPreferringLockTest, ReadersShareTheLock) {
  WriterPreferringLock lock;
  std::shared_lock first(lock);
  std::atomic<bool> second_in{false};
  std::thread other([&] {
    std::shared_lock second(lock);
    second_in = true;
  });
  EXPECT_TRUE(wait_until([&] { return second_in.load(); }, std::chrono::seconds(5)));
  other.join();
}

TEST(WriterPreferringLockTest, TryLockSucceedsOnlyWhenNoOneHoldsTheLock) {
  WriterPreferringLock lock;
  {
    std::shared_lock reader(lock);
    EXPECT_FALSE(lock.try_lock());
    std::shared_lock second(lock, std::try_to_lock);
    EXPECT_TRUE(second.owns_lock());
  }
  std::unique_lock writer(lock, std::try_to_lock);
  ASSERT_TRUE(writer.owns_lock());
  EXPECT_FALSE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock_shared());
  writer.unlock();
  EXPECT_TRUE(lock.try_lock_shared());
  lock.unlock_shared();
}

TEST(WriterPreferringLockTest, TryLockSharedFailsOnceAWriterWaits) {
  WriterPreferringLock lock;
  std::shared_lock reader(lock);
  std::thread writer([&] { std::unique_lock hold(lock); });
  ASSERT_TRUE(wait_until([&] { return lock.waiting_writers() == 1; }, std::chrono::seconds(5)));
  EXPECT_FALSE(lock.try_lock_shared());
  reader.unlock();
  writer.join();
  EXPECT_TRUE(lock.try_lock_shared());
  lock.unlock_shared();
}

TEST(NameExclusionTest, SecondOperationOnANameWaitsForTheFirst) {
  NameExclusion names;
  NameHold first = names.acquire("a");
  std::atomic<bool> second_in{false};
  std::thread other([&] {
    NameHold second = names.acquire("a");
    second_in = true;
  });
  EXPECT_FALSE(wait_until([&] { return second_in.load(); }, milliseconds(100)));
  first.release();
  EXPECT_TRUE(wait_until([&] { return second_in.load(); }, std::chrono::seconds(5)));
  other.join();
}

TEST(NameExclusionTest, DifferentNamesDoNotWait) {
  NameExclusion names;
  NameHold a = names.acquire("a");
  NameHold b = names.acquire("b");  // would block forever if names were shared
  SUCCEED();
}

}  // namespace
}  // namespace fsr::fileserver
