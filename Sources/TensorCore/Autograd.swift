import Foundation

/// One vertex of the autograd graph.
///
/// A leaf node belongs to a tensor created with `requiresGrad`; it accumulates `grad`. An interior node belongs to the
/// result of a recorded op and knows how to turn the gradient of its output into gradients of its inputs.
public final class GradNode: @unchecked Sendable {
  public let op: String
  /// Nodes of the inputs that require grad, in the order `backward` returns their gradients.
  let inputs: [GradNode]
  /// Shapes of those inputs, checked against the gradients `backward` returns.
  let inputShapes: [[Int]]
  /// The backward rule, with the tensors it saved; dropped once a backward pass has run through it.
  private(set) var backward: ((Tensor) -> [Tensor?])?
  /// Whether a backward pass has run through this interior node and freed what it saved.
  private(set) var isReleased = false
  public internal(set) var grad: Tensor?

  init(leaf: ()) {
    op = "leaf"
    inputs = []
    inputShapes = []
    backward = nil
  }

  /// Frees the backward rule and the tensors it captured (activations, and references to weights that would
  /// otherwise make an optimizer's in-place update copy them).
  func release() {
    guard backward != nil else { return }
    backward = nil
    isReleased = true
  }

  init(op: String, inputs: [GradNode], inputShapes: [[Int]], backward: @escaping (Tensor) -> [Tensor?]) {
    self.op = op
    self.inputs = inputs
    self.inputShapes = inputShapes
    self.backward = backward
  }

  public var isLeaf: Bool { backward == nil && !isReleased }
}

/// Whether ops record a graph on the current thread. Use `withNoGrad` to turn recording off.
public enum GradMode {
  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// True unless the current thread is inside `withNoGrad`.
  public static var isEnabled: Bool {
    get { pthread_getspecific(key) == nil }
    set { pthread_setspecific(key, newValue ? nil : UnsafeRawPointer(bitPattern: 1)) }
  }
}

/// Whether tensor creation skips writing values on the current thread (see `withShapesOnly`).
public enum ShapeOnlyMode {
  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  public static var isEnabled: Bool {
    get { pthread_getspecific(key) != nil }
    set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
  }
}

/// Builds models from shapes alone: `full`, `zeros`, `uniform` and `normal` reserve their buffers but write nothing,
/// so the operating system commits no memory for them. For inspection (parameter counts, key lists) only; the
/// values of tensors created inside are undefined.
@discardableResult
public func withShapesOnly<Result>(_ body: () throws -> Result) rethrows -> Result {
  let previous = ShapeOnlyMode.isEnabled
  ShapeOnlyMode.isEnabled = true
  defer { ShapeOnlyMode.isEnabled = previous }
  return try body()
}

/// Runs `body` without recording any autograd graph (PyTorch `torch.no_grad()`).
@discardableResult
public func withNoGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
  let previous = GradMode.isEnabled
  GradMode.isEnabled = false
  defer { GradMode.isEnabled = previous }
  return try body()
}

extension Tensor {
  /// Whether gradients flow to this tensor. Setting it on a tensor makes it a leaf that accumulates `grad`.
  public var requiresGrad: Bool {
    get { node != nil }
    set {
      if newValue {
        if node == nil { node = GradNode(leaf: ()) }
      } else {
        node = nil
      }
    }
  }

  /// The gradient accumulated by `backward()` on a leaf; `nil` before any backward pass or for non-leaves.
  public var grad: Tensor? {
    get { node?.grad }
    nonmutating set { node?.grad = newValue }
  }

  public var isLeaf: Bool { node?.isLeaf ?? true }

  /// The op that produced this tensor, or "leaf".
  public var gradOp: String? { node?.op }

  /// The same values cut off from the graph.
  public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

  /// Records `output` as the result of an op on `inputs` when grad mode is on and an input requires grad.
  ///
  /// `backward` receives the output gradient and returns one gradient per entry of `inputs` (nil for inputs that
  /// are not differentiable). It runs with grad mode off.
  public static func record(
    _ op: String, output: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
  ) -> Tensor {
    guard GradMode.isEnabled else { return output }
    var tracked: [Int] = []
    for (index, input) in inputs.enumerated() where input.node != nil { tracked.append(index) }
    guard !tracked.isEmpty else { return output }
    let node = GradNode(
      op: op,
      inputs: tracked.map { inputs[$0].node! },
      inputShapes: tracked.map { inputs[$0].shape },
      backward: { outputGrad in
        let all = backward(outputGrad)
        return tracked.map { all[$0] }
      })
    var result = output.detached()
    result.node = node
    return result
  }

  /// Back-propagates from this tensor. A scalar (one-element) tensor needs no seed; otherwise pass `seed`, the
  /// gradient of the final loss with respect to this tensor.
  ///
  /// As in PyTorch, the pass frees the graph's saved tensors, unless `retainGraph`: the activations are released
  /// before the optimizer step, and the parameters are no longer shared with the graph, so updating them in place
  /// copies nothing. They are freed when the pass ends rather than node by node: freed along the way, they went back
  /// to the buffer pool in an order the next forward pass reused worse (MobileNetV2's training step took twice the
  /// page faults and 20% more time). A second pass through a freed graph stops with a message.
  public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
    guard let root = node else {
      preconditionFailure("backward: tensor does not require grad (no graph was recorded)")
    }
    let seedGrad: Tensor
    if let seed {
      precondition(seed.shape == shape, "backward: seed shape \(seed.shape) differs from tensor shape \(shape)")
      seedGrad = seed.detached()
    } else {
      precondition(count == 1, "backward: a seed gradient is required for a non-scalar tensor of shape \(shape)")
      seedGrad = Tensor.ones(shape)
    }
    withNoGrad { Tensor.propagate(from: root, seed: seedGrad, retainGraph: retainGraph) }
  }

  private static func topologicalOrder(from root: GradNode) -> [GradNode] {
    var order: [GradNode] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(GradNode, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (current, next) = stack.popLast() {
      if next < current.inputs.count {
        stack.append((current, next + 1))
        let child = current.inputs[next]
        if visited.insert(ObjectIdentifier(child)).inserted { stack.append((child, 0)) }
      } else {
        order.append(current)
      }
    }
    return order
  }

  private static func propagate(from root: GradNode, seed: Tensor, retainGraph: Bool) {
    var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
    let order = topologicalOrder(from: root)
    defer { if !retainGraph { for node in order { node.release() } } }
    for current in order.reversed() {
      guard let outputGrad = pending.removeValue(forKey: ObjectIdentifier(current)) else { continue }
      precondition(
        !current.isReleased,
        "backward: the graph through \(current.op) was already back-propagated and its saved tensors freed; pass "
          + "retainGraph: true to the first backward to go through it twice")
      guard let backward = current.backward else {
        current.grad = current.grad.map { $0.adding(outputGrad) } ?? outputGrad
        continue
      }
      let inputGrads = backward(outputGrad)
      for (index, input) in current.inputs.enumerated() {
        guard let inputGrad = inputGrads[index] else { continue }
        precondition(
          inputGrad.shape == current.inputShapes[index],
          "backward of \(current.op): gradient shape \(inputGrad.shape) != input shape \(current.inputShapes[index])")
        let key = ObjectIdentifier(input)
        pending[key] = pending[key].map { $0.adding(inputGrad) } ?? inputGrad
      }
    }
  }
}
