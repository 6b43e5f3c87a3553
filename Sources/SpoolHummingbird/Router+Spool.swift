import Hummingbird
import SpoolServer

extension Router where Context: RemoteAddressRequestContext {
    /// Routes every request below `mount.path` (and the path itself) to Spool's server: the
    /// dashboard at `/spool`, the API at `/spool/v1/…`, with their own tokens, form token and
    /// loopback rules (see ``SpoolServer/SpoolMount``). Bodies stream through.
    ///
    /// ```swift
    /// let server = SpoolServer(storage: storage, registry: registry, configuration: .init(adminToken: token))
    /// let mount = try server.mount(at: "/spool")
    /// router.addSpool(mount)
    /// app.addServices(mount)   // the dashboard's charts
    /// ```
    ///
    /// Your router's middleware (logging, your own auth) runs before Spool's, as for any route.
    /// The context gives the connection's peer (`RemoteAddressRequestContext`: set
    /// `remoteAddress` from `source.channel.remoteAddress`): with no token configured, requests
    /// from other machines get 403.
    @discardableResult
    public func addSpool(_ mount: SpoolMount) -> Self {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        let paths = mount.path.isEmpty ? ["/", "/**"] : [mount.path, mount.path + "/**"]
        for path in paths {
            for method in methods {
                on(RouterPath(path), method: method) { request, context -> Response in
                    await mount.respond(to: request, peer: context.remoteAddress, logger: context.logger)
                }
            }
        }
        return self
    }
}
