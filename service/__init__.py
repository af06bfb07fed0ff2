"""zhunru's HTTP service (`zhunru serve`): the same request path as the CLI, over HTTP."""
