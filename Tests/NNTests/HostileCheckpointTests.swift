import Foundation
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

/// Crafted pickles and `.pth` files: each is refused with a message, none crashes or reads out of bounds.
final class HostileCheckpointTests: XCTestCase {
  private func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
    var unpickler = RestrictedUnpickler(data: Data(bytes), allowedGlobals: []) { _, _, _ in .none }
    return try unpickler.load()
  }

  private func assertRefused(_ bytes: [UInt8], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try unpickle(bytes), file: file, line: line) { error in
      XCTAssertTrue("\(error)".contains(expected), "\(error)", file: file, line: line)
    }
  }

  func testPoppingBelowAMarkIsAnUnderflow() {
    // BININT1 1, BININT1 2, MARK, TUPLE2 (pops the two values below the mark), TUPLE, STOP
    assertRefused([0x4B, 1, 0x4B, 2, 0x28, 0x86, 0x74, 0x2E], "pickle stack underflow")
    assertRefused([0x4B, 1, 0x28, 0x2E], "pickle stack underflow")
    assertRefused([0x4B, 1, 0x28, 0x71, 0], "memoises an empty stack")
  }

  func testDeeplyNestedDictsAreRefusedAndFreedWithoutRecursion() {
    let depth = 300_000
    var bytes: [UInt8] = [0x7D]
    for _ in 0..<depth { bytes += [0x8C, 1, 0x6B, 0x7D] }  // SHORT_BINUNICODE "k", EMPTY_DICT
    bytes += [UInt8](repeating: 0x73, count: depth) + [0x2E]  // SETITEM × depth, STOP
    assertRefused(bytes, "nests deeper than 1000 levels")
  }

  func testTupleChainsAreRefusedAsTheyGrow() {
    assertRefused([0x29] + [UInt8](repeating: 0x85, count: 300_000) + [0x2E], "nests deeper than 1000 levels")
    // t(n+1) = (t(n), t(n)) through the memo: 2^64 paths; the depth check has a budget instead of walking them.
    var bytes: [UInt8] = [0x5D, 0x85]  // EMPTY_LIST, TUPLE1
    for level in 0..<64 { bytes += [0x94, 0x68, UInt8(level), 0x86] }  // MEMOIZE, BINGET level, TUPLE2
    assertRefused(bytes + [0x2E], "refers to its shared values too many times")
    XCTAssertNoThrow(try unpickle([0x5D, 0x85, 0x94, 0x68, 0, 0x86, 0x2E]))
  }

  func testMemoSizeIsBounded() {
    var unpickler = RestrictedUnpickler(data: Data([0x4E, 0x94, 0x94, 0x94, 0x2E]), allowedGlobals: []) { _, _, _ in
      .none
    }
    unpickler.maxMemo = 2
    XCTAssertThrowsError(try unpickler.load()) { XCTAssertTrue("\($0)".contains("memo exceeds 2 entries"), "\($0)") }
  }

  func testSelfContainingDictIsAnErrorNotAnEndlessWalk() throws {
    // EMPTY_DICT, MEMOIZE, "k", BINGET 0, SETITEM, STOP: a dict that holds itself.
    let root: [UInt8] = [0x80, 2, 0x7D, 0x94, 0x8C, 1, 0x6B, 0x68, 0, 0x73, 0x2E]
    let path = try writeLegacy(root: root, storages: [])
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
      XCTAssertTrue("\(error)".contains("nest deeper than"), "\(error)")
    }
  }

  func testImpossibleTensorViewsAreRefused() throws {
    let cases: [(shape: [Int64], strides: [Int64], offset: Int64, expected: String)] = [
      ([-2, 2], [2, 1], 0, "negative extent"),
      ([2, 2], [-2, 1], 2, "negative storage offset or stride"),
      ([2, 2], [2, 1], -1, "negative storage offset or stride"),
      ([1 << 62, 4], [0, 0], 0, "more than 2147483648 elements"),
      ([4, 4], [4, 1], 0, "reads past its storage of 4 elements"),
      ([2, 2], [1 << 62, 1 << 62], 0, "reads past its storage"),
    ]
    for item in cases {
      let path = try writeLegacy(
        root: tensorDict(shape: item.shape, strides: item.strides, offset: item.offset), storages: [4])
      XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path), "\(item)") { error in
        XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
        XCTAssertTrue("\(error)".contains(item.expected), "\(item): \(error)")
      }
    }
    let good = try writeLegacy(root: tensorDict(shape: [2, 2], strides: [1, 2], offset: 0), storages: [4])
    XCTAssertEqual(try PyTorchCheckpoint.read(path: good)["w"]?.scalars, [0, 2, 1, 3])
  }

  func testLegacyStorageCountCannotOverflow() throws {
    let path = try writeLegacy(
      root: tensorDict(shape: [1], strides: [1], offset: 0), storages: [Int64.max / 2])
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".contains("runs past the end of the file"), "\(error)")
    }
  }

  /// Found by fuzz-pth: a ZIP64 extra field with an offset beyond Int64 made ZIPFoundation trap.
  func testZip64OffsetBeyondInt64IsAnError() {
    let path = Fixtures.path("hostile/zip64-offset-beyond-int64.pth")
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".hasPrefix(path + ": "), "\(error)")
    }
  }

  /// A file shorter than a ZIP64 end record, with a ZIP64 locator before its end record (the range check once
  /// underflowed on it).
  func testZip64LocatorInATinyFileIsAnError() throws {
    var bytes: [UInt8] = [0x50, 0x4B, 0x06, 0x07] + [UInt8](repeating: 0, count: 16)
    bytes += [0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 8) + [UInt8](repeating: 0xFF, count: 8) + [0, 0]
    let path = NSTemporaryDirectory() + "hostile-\(UUID().uuidString).pth"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".contains("zip central directory lies outside the file"), "\(error)")
    }
  }

  /// A zip entry that declares gigabytes (a compressed one could inflate to them) is refused before extraction.
  func testZipEntryDeclaringMoreThanTheLimitIsAnError() {
    let path = Fixtures.path("hostile/pickle-declares-4gb.pth")
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".contains("inflates to more than"), "\(error)")
    }
  }

  /// Found by fuzz-pth: a ZIP64 end record before the classic one is used whatever the classic fields say, and its
  /// directory offset beyond Int64 made ZIPFoundation trap.
  func testZip64EndRecordWithAnOffsetBeyondInt64IsAnError() {
    let path = Fixtures.path("hostile/zip64-record-overrides-classic-end.pth")
    XCTAssertThrowsError(try PyTorchCheckpoint.read(path: path)) { error in
      XCTAssertTrue("\(error)".contains("zip central directory lies outside the file"), "\(error)")
    }
  }

  // MARK: Crafting legacy checkpoints

  private func binint(_ value: Int64) -> [UInt8] {
    // LONG1 with 8 little-endian bytes holds any Int64.
    [0x8A, 8] + withUnsafeBytes(of: value.littleEndian) { Array($0) }
  }

  private func string(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }

  private func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }

  /// `{"w": _rebuild_tensor_v2(storage "0" of FloatStorage, offset, shape, strides)}`.
  private func tensorDict(shape: [Int64], strides: [Int64], offset: Int64) -> [UInt8] {
    var bytes: [UInt8] = [0x80, 2, 0x7D] + string("w") + global("torch._utils", "_rebuild_tensor_v2") + [0x28]
    bytes += [0x28] + string("storage") + global("torch", "FloatStorage") + string("0") + string("cpu") + [0x4B, 4]
    bytes += [0x74, 0x51] + binint(offset)
    bytes += [0x28] + shape.flatMap(binint) + [0x74]
    bytes += [0x28] + strides.flatMap(binint) + [0x74]
    bytes += [0x89, 0x74, 0x52, 0x73, 0x2E]  // False, TUPLE, REDUCE, SETITEM, STOP
    return bytes
  }

  /// The legacy layout: magic, protocol, system info, the root pickle, the storage keys, then each storage as an
  /// element count and that many floats (0, 1, 2, …) — fewer when the count is a lie.
  private func writeLegacy(root: [UInt8], storages: [Int64]) throws -> String {
    var bytes: [UInt8] = [0x80, 2, 0x8A, 10] + [UInt8](repeating: 0x6C, count: 10) + [0x2E]
    bytes += [0x80, 2, 0x4D, 0xE9, 0x03, 0x2E, 0x80, 2, 0x7D, 0x2E]
    bytes += root
    bytes += [0x80, 2, 0x5D, 0x28] + storages.indices.flatMap { string(String($0)) } + [0x65, 0x2E]
    for count in storages {
      bytes += withUnsafeBytes(of: count.littleEndian) { Array($0) }
      for index in 0..<min(count, 4) {
        bytes += withUnsafeBytes(of: Float(index).bitPattern.littleEndian) { Array($0) }
      }
    }
    let path = NSTemporaryDirectory() + "hostile-\(UUID().uuidString).pth"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }
}
