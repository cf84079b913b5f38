"""The screens people work in, mounted inside the admin by LabelSchemaAdmin.get_urls:
annotate (annotate.py) and review (review.py)."""
