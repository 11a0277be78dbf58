"""Personalization (pure): customer profile + catalogue -> explained :class:`PersonalizationPlan`."""

from pipelines.personalization.catalogue import Catalogue, Product, catalogue_from_dict, load_catalogue
from pipelines.personalization.copy import CopyDeck, copy_deck_from_dict, load_copy_deck
from pipelines.personalization.profile import CustomerProfile, Interaction
from pipelines.personalization.taste import Decision, PersonalizationPlan, personalize

__all__ = [
    "Catalogue",
    "CopyDeck",
    "CustomerProfile",
    "Decision",
    "Interaction",
    "PersonalizationPlan",
    "Product",
    "catalogue_from_dict",
    "copy_deck_from_dict",
    "load_catalogue",
    "load_copy_deck",
    "personalize",
]
