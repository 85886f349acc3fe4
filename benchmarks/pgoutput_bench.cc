// Micro benchmarks of the pgoutput decoder (cdc/pgoutput.h): the per-change
// cost on the replay path. Inputs are messages captured from PostgreSQL 15
// (tests/unit/testdata/pgoutput_capture.txt) plus an orders-shaped Insert and
// Update built the way pgoutput encodes them.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "cdc/pgoutput.h"

namespace {

using shadowcopy::cdc::DecodeCopyData;
using shadowcopy::cdc::DecodePgOutput;

std::string FromHex(std::string_view hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nib(hex[i]) << 4 | nib(hex[i + 1])));
  }
  return out;
}

void PutU32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>(v >> (i * 8)));
}
void PutU16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}
void PutText(std::string* s, std::string_view v) {
  s->push_back('t');
  PutU32(s, static_cast<uint32_t>(v.size()));
  s->append(v);
}

// One row of the benchmark's orders table, as pgoutput sends it in text format.
void PutOrdersTuple(std::string* s, int64_t id) {
  PutU16(s, 6);
  PutText(s, std::to_string(id));
  PutText(s, std::to_string(id * 7919 % 200000 + 1));
  PutText(s, "paid");
  PutText(s, "1234.56");
  PutText(s, "order note 0cc175b9c0f1b6a831c399e269772661");
  PutText(s, "2024-01-12 13:46:40+00");
}

std::string OrdersInsert() {
  std::string s = "I";
  PutU32(&s, 16385);
  s.push_back('N');
  PutOrdersTuple(&s, 123456);
  return s;
}

std::string OrdersUpdate() {  // non-key update: no old tuple
  std::string s = "U";
  PutU32(&s, 16385);
  s.push_back('N');
  PutOrdersTuple(&s, 123456);
  return s;
}

// Captured: insert into items(id, name, note, big) of (3, 'beta', 'with message', NULL).
const std::string kCapturedInsert = FromHex(
    "49000040014e0004740000000133740000000462657461740000000c77697468206d6573736167656e");
// Captured: key update of items 1 -> 2 ('K' old key, unchanged TOAST 'u').
const std::string kCapturedKeyUpdate = FromHex(
    "55000040014b00047400000001316e6e6e4e00047400000001327400000005616c70686174000000056e6f74656475");
// Captured: delete by key.
const std::string kCapturedDelete = FromHex("44000040014b00047400000001326e6e6e");
// Captured: Begin and Commit.
const std::string kCapturedBegin = FromHex("420000000001549470000303c70ab53dc0000002dd");
const std::string kCapturedCommit =
    FromHex("4300000000000154947000000000015494a0000303c70ab53dc0");

void Decode(benchmark::State& state, const std::string& bytes) {
  for (auto _ : state) {
    auto msg = DecodePgOutput(bytes);
    if (!msg.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(msg);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

void BM_DecodeInsert_Orders(benchmark::State& state) { Decode(state, OrdersInsert()); }
void BM_DecodeUpdate_Orders(benchmark::State& state) { Decode(state, OrdersUpdate()); }
void BM_DecodeInsert_Captured(benchmark::State& state) { Decode(state, kCapturedInsert); }
void BM_DecodeKeyUpdate_Captured(benchmark::State& state) { Decode(state, kCapturedKeyUpdate); }
void BM_DecodeDelete_Captured(benchmark::State& state) { Decode(state, kCapturedDelete); }
void BM_DecodeBegin_Captured(benchmark::State& state) { Decode(state, kCapturedBegin); }
void BM_DecodeCommit_Captured(benchmark::State& state) { Decode(state, kCapturedCommit); }

// The whole frame as the stream thread sees it: CopyData 'w' header + message.
void BM_DecodeXLogDataThenInsert_Orders(benchmark::State& state) {
  std::string frame = "w";
  for (int i = 0; i < 3; ++i) PutU32(&frame, 0), PutU32(&frame, 0x01549470u + i);
  frame += OrdersInsert();
  for (auto _ : state) {
    auto cd = DecodeCopyData(frame);
    if (!cd.ok()) {
      state.SkipWithError("copydata decode failed");
      break;
    }
    auto msg = DecodePgOutput(std::get<shadowcopy::cdc::XLogData>(*cd).payload);
    benchmark::DoNotOptimize(msg);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_DecodeInsert_Orders);
BENCHMARK(BM_DecodeUpdate_Orders);
BENCHMARK(BM_DecodeInsert_Captured);
BENCHMARK(BM_DecodeKeyUpdate_Captured);
BENCHMARK(BM_DecodeDelete_Captured);
BENCHMARK(BM_DecodeBegin_Captured);
BENCHMARK(BM_DecodeCommit_Captured);
BENCHMARK(BM_DecodeXLogDataThenInsert_Orders);

}  // namespace
