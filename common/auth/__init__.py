"""Identity: who calls (a principal of a tenant, with scopes), how credentials are checked, and where it is enforced."""
