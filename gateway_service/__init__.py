"""HTTP/JSON gateway: REST, OpenAPI, GraphQL and the review console in front of the supervisor's gRPC API."""
