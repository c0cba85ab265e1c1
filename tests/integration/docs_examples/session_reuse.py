import aiohttp
from kellyapi import KellyAPI

async def main():
    # Create a session that will be reused
    async with aiohttp.ClientSession() as session:
        api = KellyAPI(
            api_key="your_api_key_here",
            session=lambda: session
        )
        
        # Make multiple requests with the same session
        response1 = await api.llm(prompt="First question")
        response2 = await api.llm(prompt="Second question")
        response3 = await api.generate(prompt="An image")
