import Foundation

/// Checks a zip archive's directory before ZIPFoundation reads it.
///
/// ZIPFoundation converts ZIP64 offsets to `off_t` with a trapping conversion, so an archive whose directory claims
/// an offset beyond `Int64` (a corrupt or hostile file) would crash the process. The check finds the directory the
/// way ZIPFoundation does — the last end record, and a ZIP64 end record wherever a locator and a record sit right
/// before it, whatever the classic fields say — then requires the directory to lie within the file and every ZIP64
/// size and offset of every entry ZIPFoundation would visit to stay below 2^62 (so sums cannot overflow).
enum ZipPreflight {
  private static let endRecordSize = 22, locatorSize = 20, zip64RecordSize = 56, entryHeaderSize = 46

  static func check(_ data: Data) throws {
    let bytes = ZipBytes(data: data)
    guard let end = bytes.lastEndRecord() else { return }  // not a zip: the legacy reader takes it
    var entryCount = bytes.integer(end + 10, 2)
    var directorySize = bytes.integer(end + 12, 4)
    var directoryOffset = bytes.integer(end + 16, 4)
    let locator = end - locatorSize, zip64Record = locator - zip64RecordSize
    if zip64Record > 0, bytes.integer(locator, 4) == 0x0706_4B50, bytes.integer(zip64Record, 4) == 0x0606_4B50 {
      entryCount = bytes.integer(zip64Record + 32, 8)
      directorySize = bytes.integer(zip64Record + 40, 8)
      directoryOffset = bytes.integer(zip64Record + 48, 8)
    }
    guard directoryOffset <= UInt64(data.count), directorySize <= UInt64(data.count) - directoryOffset else {
      throw PickleError(message: "zip central directory lies outside the file")
    }
    try checkEntries(bytes, from: Int(directoryOffset), count: entryCount)
  }

  /// Walks the directory entries as ZIPFoundation's iterator does: up to `count` of them, while each starts with the
  /// entry signature, wherever that leads within the file.
  private static func checkEntries(_ bytes: ZipBytes, from start: Int, count: UInt64) throws {
    var at = start
    var visited: UInt64 = 0
    while visited < count, at + entryHeaderSize <= bytes.count, bytes.integer(at, 4) == 0x0201_4B50 {
      let nameLength = Int(bytes.integer(at + 28, 2)), extraLength = Int(bytes.integer(at + 30, 2))
      let commentLength = Int(bytes.integer(at + 32, 2))
      var field = at + entryHeaderSize + nameLength
      let fieldsEnd = min(field + extraLength, bytes.count)
      while field + 4 <= fieldsEnd {
        let (id, size) = (bytes.integer(field, 2), Int(bytes.integer(field + 2, 2)))
        if id == 1 {
          for value in stride(from: field + 4, through: min(field + 4 + size, fieldsEnd) - 8, by: 8)
          where bytes.integer(value, 8) >= 1 << 62 {
            throw PickleError(message: "zip64 size or offset \(bytes.integer(value, 8)) is out of range")
          }
        }
        field += 4 + size
      }
      at += entryHeaderSize + nameLength + extraLength + commentLength
      visited += 1
    }
  }

  /// Little-endian reads from a file's bytes; positions are checked by the callers.
  private struct ZipBytes {
    let data: Data
    var count: Int { data.count }

    func integer(_ offset: Int, _ width: Int) -> UInt64 {
      (0..<width).reduce(UInt64(0)) { $0 | UInt64(data[data.startIndex + offset + $1]) << (8 * UInt64($1)) }
    }

    /// The position of the last end-of-central-directory signature that leaves room for the whole record.
    func lastEndRecord() -> Int? {
      guard count >= endRecordSize else { return nil }
      return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
        stride(from: count - endRecordSize, through: 0, by: -1).first { at in
          raw[at] == 0x50 && raw[at + 1] == 0x4B && raw[at + 2] == 5 && raw[at + 3] == 6
        }
      }
    }
  }
}
