"""Developer tools that are not part of the deployed app: vendoring the design system, screenshots."""
