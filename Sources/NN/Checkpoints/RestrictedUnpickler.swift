import Foundation
import TensorCore

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
///
/// Hostile pickles are refused with an error rather than trusted: popping below a MARK, values nested deeper than
/// `maxDepth` (which would overflow the stack when visited or freed) and more than `maxMemo` memo entries.
public struct RestrictedUnpickler {
  /// Builds the object for `callable(arguments)`; anything not allowed throws.
  public typealias Reduce = (_ module: String, _ name: String, _ arguments: [PickleValue]) throws -> PickleValue

  let data: Data
  public private(set) var position: Int
  let allowedGlobals: Set<String>
  let reduce: Reduce
  /// The deepest nesting of tuples, lists and dicts accepted.
  public var maxDepth = InputLimits.maxPickleDepth
  /// The most memo entries accepted.
  public var maxMemo = InputLimits.maxPickleMemo

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
    guard count >= 0, count <= data.count - position else {
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
    var containers = ContainerRegistry()
    do {
      let value = try run(&containers)
      try checkDepth(value)
      return value
    } catch {
      containers.dismantle()
      throw error
    }
  }

  /// Every list and dict the pickle created, so a rejected pickle's graph can be taken apart without recursion.
  struct ContainerRegistry {
    var lists: [PickleList] = []
    var dicts: [PickleDict] = []

    /// Empties every container while all of them are still held here, so freeing one never recurses into another.
    mutating func dismantle() {
      for list in lists { list.items.removeAll() }
      for dict in dicts { dict.entries.removeAll() }
      lists.removeAll()
      dicts.removeAll()
    }
  }

  /// Refuses a value nested deeper than `maxDepth`, walking it with an explicit stack. Shared containers are
  /// visited once, so a reference cycle ends the walk instead of looping; tuples shared through the memo are walked
  /// each time they occur, so the walk has a budget that a state dict never comes near.
  func checkDepth(_ root: PickleValue) throws {
    var pending: [(PickleValue, Int)] = [(root, 1)]
    var visited = Set<ObjectIdentifier>()
    var budget = Swift.max(1 << 20, 16 * data.count)
    while let (value, depth) = pending.popLast() {
      guard depth <= maxDepth else { throw tooDeep() }
      budget -= 1
      guard budget >= 0 else {
        throw PickleError(message: "pickle refers to its shared values too many times (a reference bomb)")
      }
      switch value {
      case .tuple(let items): pending += items.map { ($0, depth + 1) }
      case .persistent(let inner): pending.append((inner, depth + 1))
      case .list(let list):
        if visited.insert(ObjectIdentifier(list)).inserted { pending += list.items.map { ($0, depth + 1) } }
      case .dict(let dict):
        if visited.insert(ObjectIdentifier(dict)).inserted {
          pending += dict.entries.flatMap { [($0.key, depth + 1), ($0.value, depth + 1)] }
        }
      default: break
      }
    }
  }

  private func tooDeep() -> PickleError {
    PickleError(message: "pickle nests deeper than \(maxDepth) levels (raise the limit with GLIP_MAX_PICKLE_DEPTH)")
  }

  /// The machine's stack. Each value carries its nesting depth, known when it is built for the immutable kinds
  /// (tuples, persistent ids), so a chain of tuples is refused as it grows; lists and dicts count as one level here
  /// and are measured by `checkDepth` once the pickle is complete.
  private struct Stack {
    var values: [PickleValue] = []
    var depths: [Int] = []
    var marks: [Int] = []

    /// The lowest index the current frame may pop: values below the innermost MARK belong to the enclosing frame,
    /// as in Python's unpickler.
    var floor: Int { marks.last ?? 0 }
    var top: PickleValue? { values.count > floor ? values.last : nil }
    var topDepth: Int { depths.last ?? 0 }

    mutating func push(_ value: PickleValue, depth: Int = 0) {
      values.append(value)
      depths.append(depth)
    }

    mutating func pop(at position: Int) throws -> (value: PickleValue, depth: Int) {
      guard values.count > floor else { throw PickleError(message: "pickle stack underflow at byte \(position)") }
      return (values.removeLast(), depths.removeLast())
    }

    mutating func popMark() throws -> (values: [PickleValue], depth: Int) {
      guard let mark = marks.popLast() else { throw PickleError(message: "pickle MARK missing") }
      defer {
        values.removeSubrange(mark...)
        depths.removeSubrange(mark...)
      }
      return (Array(values[mark...]), depths[mark...].max() ?? 0)
    }
  }

  private mutating func run(_ containers: inout ContainerRegistry) throws -> PickleValue {
    var stack = Stack()
    var memo: [Int: (value: PickleValue, depth: Int)] = [:]
    let maxDepth = self.maxDepth
    func pop() throws -> PickleValue { try stack.pop(at: position - 1).value }
    func pushTuple(_ items: [PickleValue], depth childDepth: Int) throws {
      guard childDepth < maxDepth else { throw tooDeep() }
      stack.push(.tuple(items), depth: childDepth + 1)
    }
    func remember(_ key: Int) throws {
      guard let top = stack.top else {
        throw PickleError(message: "pickle memoises an empty stack at byte \(position - 1)")
      }
      guard memo[key] != nil || memo.count < maxMemo else {
        throw PickleError(
          message: "pickle memo exceeds \(maxMemo) entries (raise the limit with GLIP_MAX_PICKLE_MEMO)")
      }
      memo[key] = (top, stack.topDepth)
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
      case 0x28: stack.marks.append(stack.values.count)  // MARK
      case 0x4E: stack.push(.none)  // NONE
      case 0x88: stack.push(.bool(true))  // NEWTRUE
      case 0x89: stack.push(.bool(false))  // NEWFALSE
      case 0x4B: stack.push(.int(Int(try byte())))  // BININT1
      case 0x4D: stack.push(.int(try unsigned(2)))  // BININT2
      case 0x4A: stack.push(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
      case 0x8A:  // LONG1
        let count = Int(try byte())
        let raw = try bytes(count)
        guard count <= 8 else {
          stack.push(.bytes(raw))  // too wide for Int (e.g. the legacy magic number); kept as raw bytes
          continue
        }
        var value: UInt64 = 0
        for (index, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        if count > 0 && count < 8 && raw.last! & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(count)) }
        stack.push(.int(Int(Int64(bitPattern: value))))
      case 0x47:  // BINFLOAT (big-endian)
        let raw = try bytes(8)
        stack.push(.float(Double(bitPattern: raw.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
      case 0x58: stack.push(.string(try utf8(try unsigned(4))))  // BINUNICODE
      case 0x8C: stack.push(.string(try utf8(Int(try byte()))))  // SHORT_BINUNICODE
      case 0x8D: stack.push(.string(try utf8(try unsigned(8))))  // BINUNICODE8
      case 0x43: stack.push(.bytes(try bytes(Int(try byte()))))  // SHORT_BINBYTES
      case 0x42: stack.push(.bytes(try bytes(try unsigned(4))))  // BINBYTES
      case 0x7D:  // EMPTY_DICT
        let dict = PickleDict()
        containers.dicts.append(dict)
        stack.push(.dict(dict), depth: 1)
      case 0x5D:  // EMPTY_LIST
        let list = PickleList()
        containers.lists.append(list)
        stack.push(.list(list), depth: 1)
      case 0x29: stack.push(.tuple([]), depth: 1)  // EMPTY_TUPLE
      case 0x74:  // TUPLE
        let (items, depth) = try stack.popMark()
        try pushTuple(items, depth: depth)
      case 0x85:  // TUPLE1
        let first = try stack.pop(at: offset)
        try pushTuple([first.value], depth: first.depth)
      case 0x86:  // TUPLE2
        let second = try stack.pop(at: offset), first = try stack.pop(at: offset)
        try pushTuple([first.value, second.value], depth: max(first.depth, second.depth))
      case 0x87:  // TUPLE3
        let third = try stack.pop(at: offset), second = try stack.pop(at: offset), first = try stack.pop(at: offset)
        try pushTuple([first.value, second.value, third.value], depth: max(first.depth, second.depth, third.depth))
      case 0x71: try remember(Int(try byte()))  // BINPUT
      case 0x72: try remember(try unsigned(4))  // LONG_BINPUT
      case 0x94: try remember(memo.count)  // MEMOIZE
      case 0x68, 0x6A:  // BINGET, LONG_BINGET
        let key = opcode == 0x68 ? Int(try byte()) : try unsigned(4)
        guard let remembered = memo[key] else {
          throw PickleError(message: "pickle memo \(key) missing at byte \(offset)")
        }
        stack.push(remembered.value, depth: remembered.depth)
      case 0x63:  // GLOBAL
        let module = try line(), name = try line()
        try checkGlobal(module, name)
        stack.push(.global(module: module, name: name))
      case 0x93:  // STACK_GLOBAL
        let name = try pop(), module = try pop()
        guard let moduleName = module.stringValue, let globalName = name.stringValue else {
          throw PickleError(message: "STACK_GLOBAL needs two strings")
        }
        try checkGlobal(moduleName, globalName)
        stack.push(.global(module: moduleName, name: globalName))
      case 0x52:  // REDUCE
        let arguments = try stack.pop(at: offset), callable = try pop()
        guard case .global(let module, let name) = callable, let items = arguments.value.tupleItems else {
          throw PickleError(message: "REDUCE on something other than an allowed global at byte \(offset)")
        }
        stack.push(try reduce(module, name, items), depth: arguments.depth)
      case 0x81:  // NEWOBJ
        let arguments = try stack.pop(at: offset), callable = try pop()
        guard case .global(let module, let name) = callable else {
          throw PickleError(message: "NEWOBJ without a class")
        }
        stack.push(try reduce(module, name, arguments.value.tupleItems ?? []), depth: arguments.depth)
      case 0x62:  // BUILD: state for objects we build is ignored (OrderedDict's, tensors' backward hooks)
        _ = try pop()
      case 0x51:  // BINPERSID
        let inner = try stack.pop(at: offset)
        guard inner.depth < maxDepth else { throw tooDeep() }
        stack.push(.persistent(inner.value), depth: inner.depth + 1)
      case 0x73:  // SETITEM
        let value = try pop(), key = try pop()
        guard let target = stack.top else { throw PickleError(message: "SETITEM with an empty stack") }
        try setItems([key, value], into: target)
      case 0x75:  // SETITEMS
        let items = try stack.popMark().values
        guard let target = stack.top else { throw PickleError(message: "SETITEMS with an empty stack") }
        try setItems(items, into: target)
      case 0x61:  // APPEND
        let value = try pop()
        guard case .list(let list) = stack.top else { throw PickleError(message: "APPEND on a non-list") }
        list.items.append(value)
      case 0x65:  // APPENDS
        let items = try stack.popMark().values
        guard case .list(let list) = stack.top else { throw PickleError(message: "APPENDS on a non-list") }
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
