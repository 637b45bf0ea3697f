"""One module per action (or per family of actions), named in connector.yaml."""
