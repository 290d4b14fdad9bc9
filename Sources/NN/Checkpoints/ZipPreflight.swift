import Foundation

/// Checks a zip archive's directory before ZIPFoundation reads it.
///
/// ZIPFoundation converts ZIP64 offsets to `off_t` with a trapping conversion, so an archive whose directory claims
/// an offset beyond `Int64` (a corrupt or hostile file) would crash the process. Every ZIP64 size and offset, and
/// the central directory's own place, must lie within the file (sizes below 2^62, so sums cannot overflow).
enum ZipPreflight {
  static func check(_ data: Data) throws {
    let bytes = [UInt8](data.suffix(min(data.count, 1 << 16 + 22)))
    let base = data.count - bytes.count
    func integer(_ offset: Int, _ width: Int, in source: [UInt8]) -> UInt64 {
      (0..<width).reduce(UInt64(0)) { $0 | UInt64(source[offset + $1]) << (8 * UInt64($1)) }
    }
    guard
      let end = stride(from: bytes.count - 22, through: 0, by: -1).first(where: { at in
        bytes[at] == 0x50 && bytes[at + 1] == 0x4B && bytes[at + 2] == 5 && bytes[at + 3] == 6
      })
    else { return }  // not a zip: the legacy reader takes it
    var directorySize = integer(end + 12, 4, in: bytes)
    var directoryOffset = integer(end + 16, 4, in: bytes)
    if directoryOffset == 0xFFFF_FFFF || directorySize == 0xFFFF_FFFF, end >= 20,
      integer(end - 20, 4, in: bytes) == 0x0706_4B50
    {
      let record = integer(end - 12, 8, in: bytes)
      guard record < UInt64(data.count) - 56 else { throw PickleError(message: "zip64 end record out of range") }
      let zip64 = [UInt8](data[(data.startIndex + Int(record))..<(data.startIndex + Int(record) + 56)])
      directorySize = integer(40, 8, in: zip64)
      directoryOffset = integer(48, 8, in: zip64)
    }
    guard directoryOffset <= UInt64(data.count), directorySize <= UInt64(data.count) - directoryOffset else {
      throw PickleError(message: "zip central directory lies outside the file")
    }
    let directory = [UInt8](
      data[(data.startIndex + Int(directoryOffset))..<(data.startIndex + Int(directoryOffset + directorySize))])
    var at = 0
    while at + 46 <= directory.count, integer(at, 4, in: directory) == 0x0201_4B50 {
      let nameLength = Int(integer(at + 28, 2, in: directory)), extraLength = Int(integer(at + 30, 2, in: directory))
      let commentLength = Int(integer(at + 32, 2, in: directory))
      var field = at + 46 + nameLength
      let fieldsEnd = min(field + extraLength, directory.count)
      while field + 4 <= fieldsEnd {
        let (id, size) = (integer(field, 2, in: directory), Int(integer(field + 2, 2, in: directory)))
        if id == 1 {
          for value in stride(from: field + 4, through: min(field + 4 + size, fieldsEnd) - 8, by: 8)
          where integer(value, 8, in: directory) >= 1 << 62 {
            throw PickleError(message: "zip64 size or offset \(integer(value, 8, in: directory)) is out of range")
          }
        }
        field += 4 + size
      }
      at += 46 + nameLength + extraLength + commentLength
    }
  }
}
