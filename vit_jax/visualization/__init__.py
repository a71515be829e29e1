"""Pictures of what attention models look at: glimpse paths of a RAM run
(glimpse_paths) and attention rollout maps of a ViT run (attention_rollout).
"""
