"""The screens people work in, mounted inside the admin by LabelSchemaAdmin.get_urls:
annotate (annotate.py), review (review.py) and agreement (agreement.py)."""
