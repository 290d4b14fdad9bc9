import Foundation

/// A value produced by the restricted unpickler. Lists and dicts are references, as in Python, so memoised objects
/// can be filled after they are stored.
public indirect enum PickleValue {
  case none
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)
  case bytes(Data)
  case tuple([PickleValue])
  case list(PickleList)
  case dict(PickleDict)
  case global(module: String, name: String)
  /// A persistent reference (`BINPERSID`): PyTorch's storage descriptors.
  case persistent(PickleValue)
  /// The result of calling an allowed global, resolved by the caller's `reduce` hook.
  case object(AnyObject)

  public var tupleItems: [PickleValue]? {
    if case .tuple(let items) = self { return items }
    return nil
  }

  public var intValue: Int? {
    switch self {
    case .int(let value): return value
    case .bool(let value): return value ? 1 : 0
    default: return nil
    }
  }

  public var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }
}

public final class PickleList {
  public var items: [PickleValue] = []
}

public final class PickleDict {
  public var entries: [(key: PickleValue, value: PickleValue)] = []
}

/// Errors reading a pickle: the offset, the opcode and what was wrong.
public struct PickleError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// A pickle reader that implements only the opcodes a PyTorch state dict uses and executes nothing: globals are
/// looked up in an allow-list, and calls (`REDUCE`) go to a hook that builds only known objects.
public struct RestrictedUnpickler {
  /// Builds the object for `callable(arguments)`; anything not allowed throws.
  public typealias Reduce = (_ module: String, _ name: String, _ arguments: [PickleValue]) throws -> PickleValue

  let data: Data
  public private(set) var position: Int
  let allowedGlobals: Set<String>
  let reduce: Reduce

  public init(data: Data, position: Int = 0, allowedGlobals: Set<String>, reduce: @escaping Reduce) {
    self.data = data
    self.position = position
    self.allowedGlobals = allowedGlobals
    self.reduce = reduce
  }

  // MARK: Reading primitives

  private mutating func byte() throws -> UInt8 {
    guard position < data.count else { throw PickleError(message: "pickle ends early at byte \(position)") }
    defer { position += 1 }
    return data[data.startIndex + position]
  }

  private mutating func bytes(_ count: Int) throws -> Data {
    guard count >= 0, position + count <= data.count else {
      throw PickleError(message: "pickle ends early: \(count) bytes wanted at byte \(position) of \(data.count)")
    }
    defer { position += count }
    return data.subdata(in: (data.startIndex + position)..<(data.startIndex + position + count))
  }

  private mutating func unsigned(_ width: Int) throws -> Int {
    var value = 0
    for (index, byte) in try bytes(width).enumerated() { value |= Int(byte) << (8 * index) }
    return value
  }

  private mutating func line() throws -> String {
    var collected: [UInt8] = []
    while true {
      let next = try byte()
      if next == 0x0A { break }
      collected.append(next)
    }
    return String(decoding: collected, as: UTF8.self)
  }

  private mutating func utf8(_ count: Int) throws -> String {
    guard let text = String(data: try bytes(count), encoding: .utf8) else {
      throw PickleError(message: "invalid UTF-8 string at byte \(position)")
    }
    return text
  }

  // MARK: The machine

  /// Reads one pickle up to its STOP opcode and returns the top value.
  public mutating func load() throws -> PickleValue {
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    func pop() throws -> PickleValue {
      guard let value = stack.popLast() else { throw PickleError(message: "pickle stack underflow") }
      return value
    }
    func popMark() throws -> [PickleValue] {
      guard let mark = marks.popLast() else { throw PickleError(message: "pickle MARK missing") }
      defer { stack.removeSubrange(mark...) }
      return Array(stack[mark...])
    }
    func setItems(_ items: [PickleValue], into target: PickleValue) throws {
      guard case .dict(let dict) = target, items.count % 2 == 0 else {
        throw PickleError(message: "SETITEM(S) on a non-dict")
      }
      for index in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[index], items[index + 1])) }
    }
    while true {
      let offset = position
      let opcode = try byte()
      switch opcode {
      case 0x80: _ = try byte()  // PROTO
      case 0x95: _ = try bytes(8)  // FRAME
      case 0x2E: return try pop()  // STOP
      case 0x28: marks.append(stack.count)  // MARK
      case 0x4E: stack.append(.none)  // NONE
      case 0x88: stack.append(.bool(true))  // NEWTRUE
      case 0x89: stack.append(.bool(false))  // NEWFALSE
      case 0x4B: stack.append(.int(Int(try byte())))  // BININT1
      case 0x4D: stack.append(.int(try unsigned(2)))  // BININT2
      case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
      case 0x8A:  // LONG1
        let count = Int(try byte())
        let raw = try bytes(count)
        guard count <= 8 else {
          stack.append(.bytes(raw))  // too wide for Int (e.g. the legacy magic number); kept as raw bytes
          continue
        }
        var value: UInt64 = 0
        for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        if count > 0 && count < 8 && raw.last! & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(count)) }
        stack.append(.int(Int(Int64(bitPattern: value))))
      case 0x47:  // BINFLOAT (big-endian)
        let raw = try bytes(8)
        stack.append(.float(Double(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
      case 0x58: stack.append(.string(try utf8(try unsigned(4))))  // BINUNICODE
      case 0x8C: stack.append(.string(try utf8(Int(try byte()))))  // SHORT_BINUNICODE
      case 0x8D: stack.append(.string(try utf8(try unsigned(8))))  // BINUNICODE8
      case 0x43: stack.append(.bytes(try bytes(Int(try byte()))))  // SHORT_BINBYTES
      case 0x42: stack.append(.bytes(try bytes(try unsigned(4))))  // BINBYTES
      case 0x7D: stack.append(.dict(PickleDict()))  // EMPTY_DICT
      case 0x5D: stack.append(.list(PickleList()))  // EMPTY_LIST
      case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
      case 0x74: stack.append(.tuple(try popMark()))  // TUPLE
      case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
      case 0x86:  // TUPLE2
        let second = try pop()
        stack.append(.tuple([try pop(), second]))
      case 0x87:  // TUPLE3
        let third = try pop(), second = try pop()
        stack.append(.tuple([try pop(), second, third]))
      case 0x71: memo[Int(try byte())] = stack.last  // BINPUT
      case 0x72: memo[try unsigned(4)] = stack.last  // LONG_BINPUT
      case 0x94: memo[memo.count] = stack.last  // MEMOIZE
      case 0x68, 0x6A:  // BINGET, LONG_BINGET
        let key = opcode == 0x68 ? Int(try byte()) : try unsigned(4)
        guard let value = memo[key] else { throw PickleError(message: "pickle memo \(key) missing at byte \(offset)") }
        stack.append(value)
      case 0x63:  // GLOBAL
        let module = try line(), name = try line()
        try checkGlobal(module, name)
        stack.append(.global(module: module, name: name))
      case 0x93:  // STACK_GLOBAL
        let name = try pop(), module = try pop()
        guard let moduleName = module.stringValue, let globalName = name.stringValue else {
          throw PickleError(message: "STACK_GLOBAL needs two strings")
        }
        try checkGlobal(moduleName, globalName)
        stack.append(.global(module: moduleName, name: globalName))
      case 0x52:  // REDUCE
        let arguments = try pop(), callable = try pop()
        guard case .global(let module, let name) = callable, let items = arguments.tupleItems else {
          throw PickleError(message: "REDUCE on something other than an allowed global at byte \(offset)")
        }
        stack.append(try reduce(module, name, items))
      case 0x81:  // NEWOBJ
        let arguments = try pop(), callable = try pop()
        guard case .global(let module, let name) = callable else {
          throw PickleError(message: "NEWOBJ without a class")
        }
        stack.append(try reduce(module, name, arguments.tupleItems ?? []))
      case 0x62:  // BUILD: state for objects we build is ignored (OrderedDict's, tensors' backward hooks)
        _ = try pop()
      case 0x51: stack.append(.persistent(try pop()))  // BINPERSID
      case 0x73:  // SETITEM
        let value = try pop(), key = try pop()
        guard let target = stack.last else { throw PickleError(message: "SETITEM with an empty stack") }
        try setItems([key, value], into: target)
      case 0x75:  // SETITEMS
        let items = try popMark()
        guard let target = stack.last else { throw PickleError(message: "SETITEMS with an empty stack") }
        try setItems(items, into: target)
      case 0x61:  // APPEND
        let value = try pop()
        guard case .list(let list) = stack.last else { throw PickleError(message: "APPEND on a non-list") }
        list.items.append(value)
      case 0x65:  // APPENDS
        let items = try popMark()
        guard case .list(let list) = stack.last else { throw PickleError(message: "APPENDS on a non-list") }
        list.items += items
      default:
        throw PickleError(
          message: String(
            format: "unsupported pickle opcode 0x%02X at byte %d (not needed by a state dict)", opcode, offset))
      }
    }
  }

  private func checkGlobal(_ module: String, _ name: String) throws {
    guard allowedGlobals.contains("\(module).\(name)") else {
      throw PickleError(
        message: "pickle refers to \(module).\(name), which is not allowed in a checkpoint (nothing was executed)")
    }
  }
}
