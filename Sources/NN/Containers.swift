import TensorCore

/// Modules that map one tensor to one tensor, so they can be chained in a `Sequential`.
public protocol UnaryLayer: Module {
  func callAsFunction(_ input: Tensor) -> Tensor
}

/// Applies its layers in order; keys are "0", "1", … as in `nn.Sequential`.
public final class Sequential: Module, UnaryLayer {
  public let layers: [any UnaryLayer]

  public init(_ layers: [any UnaryLayer]) {
    self.layers = layers
    super.init()
    for (index, layer) in layers.enumerated() { register("\(index)", layer) }
  }

  public func callAsFunction(_ input: Tensor) -> Tensor { layers.reduce(input) { $1($0) } }
}

/// An indexed list of modules with keys "0", "1", … as in `nn.ModuleList`.
public final class ModuleList<Element: Module>: Module {
  public let modules: [Element]

  public init(_ modules: [Element]) {
    self.modules = modules
    super.init()
    for (index, module) in modules.enumerated() { register("\(index)", module) }
  }

  public subscript(index: Int) -> Element { modules[index] }

  override public var typeName: String { "ModuleList" }
  public var count: Int { modules.count }
}
